package workflows

import "github.com/stratabackup/strata/activities"

// The activities the workflows call, by domain: typed nil pointers whose
// methods name the activities (the worker registers the real structs,
// activities.Set).
var (
	backups       *activities.Backups
	restores      *activities.Restores
	deletions     *activities.Deletions
	reconciler    *activities.Reconciler
	monitor       *activities.Monitor
	notifications *activities.Notifications
	clusters      *activities.Clusters
	jobs          *activities.Jobs
	channels      *activities.Channels
)

var (
	lifecycles *activities.Lifecycles
	profiles   *activities.Profiles
)
