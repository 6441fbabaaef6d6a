package api

// QueryConnectCluster answers with how to connect to a postgres cluster's
// primary: GetRequest (cluster) → ConnectInfo. It is a query, so the URI
// (which holds the superuser's password) is in no workflow history; with
// payload encryption on it is sealed on the wire too.
const QueryConnectCluster = "connectCluster"

// ConnectInfo is where a postgres cluster's primary listens and a libpq
// connection URI for it that psql accepts as is.
type ConnectInfo struct {
	ClusterID string `json:"clusterId"`
	NodeID    string `json:"nodeId"`
	Endpoint  string `json:"endpoint"`
	URI       string `json:"uri"`
}
