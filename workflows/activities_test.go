package workflows

import "github.com/stratabackup/strata/activities"

// registerActivities registers every activity struct on a test
// environment, for its activities to be mocked.
func registerActivities(env interface{ RegisterActivity(a interface{}) }) {
	for _, a := range activities.New(activities.Deps{}).Registerable() {
		env.RegisterActivity(a)
	}
}
