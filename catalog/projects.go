package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// -------------------------------------------------------- projects, networks

func (s *sqlStore) CreateProject(ctx context.Context, p Project) error {
	if p.ID == "" {
		return errors.New("catalog: project ID is required")
	}
	created := p.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	return s.write(ctx, func(r runner) error {
		if _, err := r.exec(ctx, `INSERT INTO projects (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
			p.ID, ms(created)); err != nil {
			return fmt.Errorf("catalog: create project %s: %w", p.ID, err)
		}
		return nil
	})
}

func (s *sqlStore) GetProject(ctx context.Context, id string) (Project, error) {
	var (
		p       Project
		created int64
	)
	err := s.direct().queryRow(ctx, `SELECT id, created_at FROM projects WHERE id = ?`, id).Scan(&p.ID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Project{}, &NotFoundError{Kind: "project", ID: id}
	}
	if err != nil {
		return Project{}, fmt.Errorf("catalog: get project %s: %w", id, err)
	}
	p.CreatedAt = fromMS(created)
	return p, nil
}

func (s *sqlStore) ListProjects(ctx context.Context) ([]Project, error) {
	rows, err := s.direct().query(ctx, `SELECT id, created_at FROM projects ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("catalog: list projects: %w", err)
	}
	defer rows.Close()
	out := []Project{}
	for rows.Next() {
		var (
			p       Project
			created int64
		)
		if err := rows.Scan(&p.ID, &created); err != nil {
			return nil, err
		}
		p.CreatedAt = fromMS(created)
		out = append(out, p)
	}
	return out, rows.Err()
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
	created := n.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	return s.write(ctx, func(r runner) error {
		var one int
		err := r.queryRow(ctx, `SELECT 1 FROM projects WHERE id = ?`, n.ProjectID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return &NotFoundError{Kind: "project", ID: n.ProjectID}
		}
		if err != nil {
			return fmt.Errorf("catalog: create network %s: %w", n.ID, err)
		}
		res, err := r.exec(ctx, `INSERT INTO networks (`+networkColumns+`) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			n.ID, n.ProjectID, n.Provider, n.Region, ms(created))
		if err != nil {
			return fmt.Errorf("catalog: create network %s: %w", n.ID, err)
		}
		if c, err := res.RowsAffected(); err != nil {
			return err
		} else if c == 0 {
			return fmt.Errorf("network %q: %w", n.ID, ErrExists)
		}
		return nil
	})
}

func (s *sqlStore) GetNetwork(ctx context.Context, id string) (Network, error) {
	n, err := scanNetwork(s.direct().queryRow(ctx, `SELECT `+networkColumns+` FROM networks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Network{}, &NotFoundError{Kind: "network", ID: id}
	}
	if err != nil {
		return Network{}, fmt.Errorf("catalog: get network %s: %w", id, err)
	}
	return n, nil
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
	defer rows.Close()
	out := []Network{}
	for rows.Next() {
		n, err := scanNetwork(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
