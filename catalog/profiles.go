package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// profileSpec is what a stored profile's spec column holds.
type profileSpec struct {
	Schedules []ProfileSchedule `json:"schedules"`
	PITR      Duration          `json:"pitr,omitempty"`
	NoBackups bool              `json:"noBackups,omitempty"`
}

func specOf(p Profile) (string, error) {
	b, err := json.Marshal(profileSpec{Schedules: p.Schedules, PITR: p.PITR, NoBackups: p.NoBackups})
	return string(b), err
}

func scanProfile(sc scanner) (Profile, error) {
	var (
		p                Profile
		spec             string
		created, updated int64
	)
	if err := sc.Scan(&p.Name, &p.Description, &spec, &created, &updated); err != nil {
		return Profile{}, err
	}
	var sp profileSpec
	if err := json.Unmarshal([]byte(spec), &sp); err != nil {
		return Profile{}, fmt.Errorf("catalog: profile %s: %w", p.Name, err)
	}
	p.Schedules, p.PITR, p.NoBackups = sp.Schedules, sp.PITR, sp.NoBackups
	if p.Schedules == nil {
		p.Schedules = []ProfileSchedule{}
	}
	p.CreatedAt, p.UpdatedAt = fromMS(created), fromMS(updated)
	return p, nil
}

func (s *sqlStore) CreateProfile(ctx context.Context, p Profile) error {
	if p.Name == "" {
		return errors.New("catalog: a profile needs a name")
	}
	spec, err := specOf(p)
	if err != nil {
		return err
	}
	created := s.orNow(p.CreatedAt)
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `INSERT INTO profiles (name, description, spec, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, p.Name, p.Description, spec, ms(created), ms(created))
		if err != nil {
			return fmt.Errorf("catalog: create profile %s: %w", p.Name, err)
		}
		return affected(res, fmt.Errorf("profile %q: %w", p.Name, ErrExists))
	})
}

func (s *sqlStore) GetProfile(ctx context.Context, name string) (Profile, error) {
	return getByID(ctx, s.direct(), scanProfile, "profile",
		`SELECT name, description, spec, created_at, updated_at FROM profiles WHERE name = ?`, name)
}

func (s *sqlStore) ListProfiles(ctx context.Context) ([]Profile, error) {
	rows, err := s.direct().query(ctx, `SELECT name, description, spec, created_at, updated_at FROM profiles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("catalog: list profiles: %w", err)
	}
	return collect(rows, scanProfile)
}

func (s *sqlStore) UpdateProfile(ctx context.Context, p Profile) error {
	spec, err := specOf(p)
	if err != nil {
		return err
	}
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE profiles SET description = ?, spec = ?, updated_at = ? WHERE name = ?`,
			p.Description, spec, ms(s.now()), p.Name)
		if err != nil {
			return fmt.Errorf("catalog: update profile %s: %w", p.Name, err)
		}
		return affected(res, &NotFoundError{Kind: "profile", ID: p.Name})
	})
}

func (s *sqlStore) DeleteProfile(ctx context.Context, name string) error {
	return s.write(ctx, func(r runner) error {
		rows, err := r.query(ctx, `SELECT id FROM clusters WHERE profile = ? AND status <> ? ORDER BY id`, name, string(ClusterDeleted))
		if err != nil {
			return fmt.Errorf("catalog: delete profile %s: %w", name, err)
		}
		ids, err := collect(rows, func(sc scanner) (string, error) {
			var id string
			err := sc.Scan(&id)
			return id, err
		})
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			return &ProfileInUseError{Name: name, Clusters: ids}
		}
		res, err := r.exec(ctx, `DELETE FROM profiles WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("catalog: delete profile %s: %w", name, err)
		}
		return affected(res, &NotFoundError{Kind: "profile", ID: name})
	})
}
