package api

// What runs on a cluster's volumes (Cluster.Engine), and a node's part in
// it (Node.Role).
const (
	// EngineVolume: the volumes hold data only; Strata runs nothing on
	// them. A cluster recorded without an engine is one.
	EngineVolume = "volume"
	// EnginePostgres: each node's one volume holds a PostgreSQL data
	// directory and a server that Strata runs.
	EnginePostgres = "postgres"

	// NodePrimary is the node of a postgres cluster that takes writes.
	NodePrimary = "primary"
	// NodeReplica is a node that streams from the primary.
	NodeReplica = "replica"
)

// EngineOf is e, or EngineVolume when e is empty.
func EngineOf(e string) string {
	if e == "" {
		return EngineVolume
	}
	return e
}
