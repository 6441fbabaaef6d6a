package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

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
