package catalog

import "github.com/stratabackup/strata/api"

// API is the channel's view: its display URL, never the stored (sealed) URL
// or secret.
func (c Channel) API() api.Channel {
	return api.Channel{ID: c.ID, ProjectID: c.ProjectID, Kind: c.Kind, URL: c.DisplayURL, HasSecret: c.HasSecret || c.Secret != "",
		Email: c.Email, SMTPHost: c.SMTPHost, SMTPUser: c.SMTPUser, SMTPPasswordEnv: c.SMTPPasswordEnv, From: c.From, CreatedAt: c.CreatedAt}
}
