package catalog

import (
	"context"
	"errors"
	"fmt"
)

func (s *sqlStore) CreateProject(ctx context.Context, p Project) error {
	if p.ID == "" {
		return errors.New("catalog: project ID is required")
	}
	created := s.orNow(p.CreatedAt)
	return s.write(ctx, func(r runner) error {
		if _, err := r.exec(ctx, `INSERT INTO projects (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
			p.ID, ms(created)); err != nil {
			return fmt.Errorf("catalog: create project %s: %w", p.ID, err)
		}
		return nil
	})
}

const projectColumns = `id, created_at`

func scanProject(sc scanner) (Project, error) {
	var (
		p       Project
		created int64
	)
	if err := sc.Scan(&p.ID, &created); err != nil {
		return Project{}, err
	}
	p.CreatedAt = fromMS(created)
	return p, nil
}

func (s *sqlStore) GetProject(ctx context.Context, id string) (Project, error) {
	return getByID(ctx, s.direct(), scanProject, "project", `SELECT `+projectColumns+` FROM projects WHERE id = ?`, id)
}

func (s *sqlStore) ListProjects(ctx context.Context) ([]Project, error) {
	rows, err := s.direct().query(ctx, `SELECT `+projectColumns+` FROM projects ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("catalog: list projects: %w", err)
	}
	return collect(rows, scanProject)
}

const networkColumns = `id, project_id, provider, region, created_at`

func scanNetwork(sc scanner) (Network, error) {
	var (
		n       Network
		created int64
	)
	if err := sc.Scan(&n.ID, &n.ProjectID, &n.Provider, &n.Region, &created); err != nil {
		return Network{}, err
	}
	n.CreatedAt = fromMS(created)
	return n, nil
}

func (s *sqlStore) CreateNetwork(ctx context.Context, n Network) error {
	if n.ID == "" || n.ProjectID == "" {
		return errors.New("catalog: network ID and project ID are required")
	}
	if n.Provider == "" || n.Region == "" {
		return fmt.Errorf("catalog: network %s: provider and region are required", n.ID)
	}
	created := s.orNow(n.CreatedAt)
	return s.write(ctx, func(r runner) error {
		ok, err := exists(ctx, r, "projects", n.ProjectID)
		if err != nil {
			return fmt.Errorf("catalog: create network %s: %w", n.ID, err)
		}
		if !ok {
			return &NotFoundError{Kind: "project", ID: n.ProjectID}
		}
		res, err := r.exec(ctx, `INSERT INTO networks (`+networkColumns+`) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			n.ID, n.ProjectID, n.Provider, n.Region, ms(created))
		if err != nil {
			return fmt.Errorf("catalog: create network %s: %w", n.ID, err)
		}
		return affected(res, fmt.Errorf("network %q: %w", n.ID, ErrExists))
	})
}

func (s *sqlStore) GetNetwork(ctx context.Context, id string) (Network, error) {
	return getByID(ctx, s.direct(), scanNetwork, "network", `SELECT `+networkColumns+` FROM networks WHERE id = ?`, id)
}

func (s *sqlStore) ListNetworks(ctx context.Context, projectID string) ([]Network, error) {
	where, args := "", []any(nil)
	if projectID != "" {
		where, args = ` WHERE project_id = ?`, []any{projectID}
	}
	rows, err := s.direct().query(ctx, `SELECT `+networkColumns+` FROM networks`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list networks: %w", err)
	}
	return collect(rows, scanNetwork)
}
