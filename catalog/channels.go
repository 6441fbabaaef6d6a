package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/stratabackup/strata/api/validate"
)

const channelColumns = `id, project_id, kind, url, secret, email, smtp_host, smtp_user, smtp_password_env, sender, created_at, url_display`

func (s *sqlStore) CreateChannel(ctx context.Context, c Channel) error {
	if c.ID == "" || c.ProjectID == "" || c.Kind == "" {
		return errors.New("catalog: a channel needs an ID, a project and a kind")
	}
	created := s.orNow(c.CreatedAt)
	return s.write(ctx, func(r runner) error {
		ok, err := exists(ctx, r, "projects", c.ProjectID)
		if err != nil {
			return fmt.Errorf("catalog: create channel %s: %w", c.ID, err)
		}
		if !ok {
			return &NotFoundError{Kind: "project", ID: c.ProjectID}
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
		return affected(res, fmt.Errorf("channel %q: %w", c.ID, ErrExists))
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
	return collect(rows, scanChannel)
}

func scanChannel(sc scanner) (Channel, error) {
	var c Channel
	var created int64
	if err := sc.Scan(&c.ID, &c.ProjectID, &c.Kind, &c.URL, &c.Secret, &c.Email, &c.SMTPHost, &c.SMTPUser, &c.SMTPPasswordEnv, &c.From, &created, &c.DisplayURL); err != nil {
		return Channel{}, err
	}
	c.CreatedAt = fromMS(created)
	c.HasSecret = c.Secret != ""
	if c.DisplayURL == "" && c.URL != "" {
		c.DisplayURL = validate.RedactURL(c.URL) // a channel stored before displays existed
	}
	return c, nil
}

func (s *sqlStore) SealChannel(ctx context.Context, id, url, secret string) error {
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `UPDATE channels SET url = ?, secret = ? WHERE id = ?`, url, secret, id)
		if err != nil {
			return fmt.Errorf("catalog: seal channel %s: %w", id, err)
		}
		return affected(res, &NotFoundError{Kind: "channel", ID: id})
	})
}

func (s *sqlStore) DeleteChannel(ctx context.Context, id string) error {
	return s.write(ctx, func(r runner) error {
		res, err := r.exec(ctx, `DELETE FROM channels WHERE id = ?`, id)
		if err != nil {
			return fmt.Errorf("catalog: delete channel %s: %w", id, err)
		}
		return affected(res, &NotFoundError{Kind: "channel", ID: id})
	})
}
