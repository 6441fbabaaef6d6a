package strata

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/stratabackup/strata/api"
	"github.com/stratabackup/strata/api/validate"
)

// A cluster's power, profile and deletion go through its lifecycle
// workflow (cluster-<id>), as updates that wait for the operation's end:
// a power-off's final backup, a power-on's restore. The workflow is
// started if it does not run (a cluster recorded before lifecycles).

// PowerOff takes the cluster's final backup and, once it is Completed,
// releases its compute and volumes and pauses its jobs. A failed final
// backup leaves the cluster running and says why.
func (c *Client) PowerOff(ctx context.Context, clusterID, reason string) (api.ClusterLifecycleState, error) {
	return c.lifecycle(ctx, clusterID, api.UpdatePowerOff, api.PowerRequest{Reason: reason})
}

// PowerOn restores the cluster's final backup into it (same ID, topology
// and network), then marks it Running and resumes its jobs.
func (c *Client) PowerOn(ctx context.Context, clusterID, reason string) (api.ClusterLifecycleState, error) {
	return c.lifecycle(ctx, clusterID, api.UpdatePowerOn, api.PowerRequest{Reason: reason})
}

// SetProfile makes the cluster's jobs match a backup profile.
func (c *Client) SetProfile(ctx context.Context, clusterID, profile string) (api.ClusterLifecycleState, error) {
	return c.lifecycle(ctx, clusterID, api.UpdateSetProfile, api.SetProfileRequest{Profile: profile})
}

// DeleteCluster deletes a cluster's jobs, compute and volumes and, with
// withBackups, every backup of it.
func (c *Client) DeleteCluster(ctx context.Context, clusterID string, withBackups bool) (api.ClusterLifecycleState, error) {
	return c.lifecycle(ctx, clusterID, api.UpdateDeleteCluster, api.DeleteClusterRequest{WithBackups: withBackups})
}

// LifecycleState is the cluster's lifecycle as its workflow holds it: the
// operation running, what waits, the clean-up's dates.
func (c *Client) LifecycleState(ctx context.Context, clusterID string) (api.ClusterLifecycleState, error) {
	if err := checkID("cluster", clusterID); err != nil {
		return api.ClusterLifecycleState{}, err
	}
	ctx, cancel := c.within(ctx, c.ReadTimeout)
	defer cancel()
	var st api.ClusterLifecycleState
	v, err := c.Temporal.QueryWorkflow(ctx, api.ClusterLifecycleWorkflowID(clusterID), "", api.QueryLifecycleState)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, &Error{Code: api.ReasonNotFound, Message: "cluster " + clusterID + " has no lifecycle workflow (see `starter cluster list`)"}
	}
	if err != nil {
		return st, c.asError(err)
	}
	return st, v.Get(&st)
}

func (c *Client) lifecycle(ctx context.Context, clusterID, name string, arg interface{ Check() error }) (api.ClusterLifecycleState, error) {
	var st api.ClusterLifecycleState
	if err := checkID("cluster", clusterID); err != nil {
		return st, err
	}
	if err := arg.Check(); err != nil {
		return st, &Error{Code: api.ReasonInvalidRequest, Message: err.Error()}
	}
	h, err := c.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: c.Temporal.NewWithStartWorkflowOperation(api.LifecycleStartOptions(c.TaskQueue, clusterID),
			api.ClusterLifecycleWorkflowName, api.LifecycleRequest{ClusterID: clusterID}),
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateID: uuid.NewString(), UpdateName: name, Args: []interface{}{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err == nil {
		err = h.Get(ctx, &st)
	}
	if err != nil && ctx.Err() != nil {
		return st, c.noWorker(name, err)
	}
	return st, c.asError(err)
}

// CreateProfile records a backup profile.
func (c *Client) CreateProfile(ctx context.Context, p api.ProfileRequest) (api.Profile, error) {
	var out api.Profile
	if err := p.Check(); err != nil {
		return out, &Error{Code: api.ReasonInvalidRequest, Message: err.Error()}
	}
	return out, c.write(ctx, api.UpdateCreateProfile, p, &out)
}

// UpdateProfile replaces a profile and moves every cluster on it to the
// new one; the answer shows which clusters are in sync yet.
func (c *Client) UpdateProfile(ctx context.Context, p api.ProfileRequest) (api.ProfileView, error) {
	var out api.ProfileView
	if err := p.Check(); err != nil {
		return out, &Error{Code: api.ReasonInvalidRequest, Message: err.Error()}
	}
	return out, c.write(ctx, api.UpdateUpdateProfile, p, &out)
}

// DeleteProfile deletes a profile no cluster is on.
func (c *Client) DeleteProfile(ctx context.Context, name string) (api.Profile, error) {
	var out api.Profile
	if err := checkID("profile", name); err != nil {
		return out, err
	}
	return out, c.write(ctx, api.UpdateDeleteProfile, api.GetRequest{ID: name}, &out)
}

// GetProfile returns a profile with its clusters and whether each one's
// jobs match it.
func (c *Client) GetProfile(ctx context.Context, name string) (api.ProfileView, error) {
	var out api.ProfileView
	if err := checkID("profile", name); err != nil {
		return out, err
	}
	return out, c.read(ctx, api.QueryGetProfile, api.GetRequest{ID: name}, &out)
}

// ListProfiles lists the built-in profiles, then the stored ones.
func (c *Client) ListProfiles(ctx context.Context) ([]api.Profile, error) {
	return pages[api.Profile](ctx, c, api.QueryListProfiles, 0, func(size int, token string) any {
		return api.ListRequest{PageSize: size, PageToken: token}
	})
}

// checkID refuses an ID the worker would refuse, before any call.
func checkID(kind, id string) error {
	if err := validate.One(kind, id); err != nil {
		return &Error{Code: api.ReasonInvalidRequest, Message: err.Error()}
	}
	return nil
}
