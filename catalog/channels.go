package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stratabackup/strata/api/validate"
)

const channelColumns = `id, project_id, kind, url, secret, email, smtp_host, smtp_user, smtp_password_env, sender, created_at, url_display`

func (s *sqlStore) CreateChannel(ctx context.Context, c Channel) error {
	if c.ID == "" || c.ProjectID == "" || c.Kind == "" {
		return errors.New("catalog: a channel needs an ID, a project and a kind")
	}
	created := c.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	return s.write(ctx, func(r runner) error {
		var one int
		err := r.queryRow(ctx, `SELECT 1 FROM projects WHERE id = ?`, c.ProjectID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return &NotFoundError{Kind: "project", ID: c.ProjectID}
		}
		if err != nil {
			return fmt.Errorf("catalog: create channel %s: %w", c.ID, err)
		}
		display := c.DisplayURL
		if display == "" {
			display = validate.RedactURL(c.URL)
		}
		res, err := r.exec(ctx, `INSERT INTO channels (`+channelColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			c.ID, c.ProjectID, c.Kind, c.URL, c.Secret, c.Email, c.SMTPHost, c.SMTPUser, c.SMTPPasswordEnv, c.From, ms(created), display)
		if err != nil {
			return fmt.Errorf("catalog: create channel %s: %w", c.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("channel %q: %w", c.ID, ErrExists)
		}
		return nil
	})
}

func (s *sqlStore) ListChannels(ctx context.Context, projectID string) ([]Channel, error) {
	q, args := `SELECT `+channelColumns+` FROM channels ORDER BY id`, []any{}
	if projectID != "" {
		q, args = `SELECT `+channelColumns+` FROM channels WHERE project_id = ? ORDER BY id`, []any{projectID}
	}
	rows, err := s.direct().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list channels: %w", err)
	}
	defer rows.Close()
	out := []Channel{}
	for rows.Next() {
		var c Channel
		var created int64
		if err := rows.Scan(&c.ID, &c.ProjectID, &c.Kind, &c.URL, &c.Secret, &c.Email, &c.SMTPHost, &c.SMTPUser, &c.SMTPPasswordEnv, &c.From, &created, &c.DisplayURL); err != nil {
			return nil, err
		}
		c.CreatedAt = fromMS(created)
		c.HasSecret = c.Secret != ""
		if c.DisplayURL == "" && c.URL != "" {
			c.DisplayURL = validate.RedactURL(c.URL) // a channel stored before displays existed
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *sqlStore) SealChannel(ctx context.Context, id, url, secret string) error {
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE channels SET url = ?, secret = ? WHERE id = ?`, url, secret, id)
		if err != nil {
			return fmt.Errorf("catalog: seal channel %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return &NotFoundError{Kind: "channel", ID: id}
		}
		return nil
	})
}

func (s *sqlStore) GetSetting(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.direct().queryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("catalog: setting %s: %w", name, err)
	}
	return v, true, nil
}

func (s *sqlStore) SetSetting(ctx context.Context, name, value string) error {
	err := s.write(ctx, func(r runner) error {
		_, err := r.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("catalog: setting %s: %w", name, err)
	}
	return nil
}

func (s *sqlStore) InitSetting(ctx context.Context, name, value string) (string, error) {
	var cur string
	err := s.write(ctx, func(r runner) error {
		if _, err := r.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
			return err
		}
		return r.queryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&cur)
	})
	if err != nil {
		return "", fmt.Errorf("catalog: setting %s: %w", name, err)
	}
	return cur, nil
}

func (s *sqlStore) DeleteChannel(ctx context.Context, id string) error {
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `DELETE FROM channels WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("catalog: delete channel %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return &NotFoundError{Kind: "channel", ID: id}
		}
		return nil
	})
}
