package awsfake

import (
	"encoding/xml"
	"net/http"
	"time"
)

// Namespace is the EC2 API's XML namespace.
const Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

const timeFormat = "2006-01-02T15:04:05.000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

// xmlSnapshot is types.Snapshot on the wire (state element "status").
type xmlSnapshot struct {
	SnapshotID    string   `xml:"snapshotId"`
	VolumeID      string   `xml:"volumeId"`
	Status        string   `xml:"status"`
	StatusMessage string   `xml:"statusMessage,omitempty"`
	StartTime     string   `xml:"startTime"`
	Progress      string   `xml:"progress"`
	OwnerID       string   `xml:"ownerId"`
	VolumeSize    int      `xml:"volumeSize"`
	Description   string   `xml:"description"`
	Encrypted     bool     `xml:"encrypted"`
	StorageTier   string   `xml:"storageTier,omitempty"`
	Tags          []xmlTag `xml:"tagSet>item"`
}

// xmlVolume is types.Volume on the wire.
type xmlVolume struct {
	VolumeID           string    `xml:"volumeId"`
	Size               int       `xml:"size"`
	SnapshotID         string    `xml:"snapshotId"`
	AvailabilityZone   string    `xml:"availabilityZone"`
	Status             string    `xml:"status"`
	CreateTime         string    `xml:"createTime"`
	AttachmentSet      *struct{} `xml:"attachmentSet,omitempty"`
	VolumeType         string    `xml:"volumeType"`
	Iops               int       `xml:"iops,omitempty"`
	Throughput         int       `xml:"throughput,omitempty"`
	Encrypted          bool      `xml:"encrypted"`
	MultiAttachEnabled bool      `xml:"multiAttachEnabled"`
	Tags               []xmlTag  `xml:"tagSet>item"`
}

// responseHeader opens every successful response: EC2's namespace and the
// request's ID, set by the server once the action has succeeded.
type responseHeader struct {
	Xmlns     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
}

func (h *responseHeader) setRequestID(id string) { h.Xmlns, h.RequestID = Namespace, id }

type createSnapshotResponse struct {
	XMLName xml.Name `xml:"CreateSnapshotResponse"`
	responseHeader
	xmlSnapshot
}

type describeSnapshotsResponse struct {
	XMLName xml.Name `xml:"DescribeSnapshotsResponse"`
	responseHeader
	Snapshots []xmlSnapshot `xml:"snapshotSet>item"`
	NextToken string        `xml:"nextToken,omitempty"`
}

type returnResponse struct {
	XMLName xml.Name
	responseHeader
	Return bool `xml:"return"`
}

type createVolumeResponse struct {
	XMLName xml.Name `xml:"CreateVolumeResponse"`
	responseHeader
	xmlVolume
}

type describeVolumesResponse struct {
	XMLName xml.Name `xml:"DescribeVolumesResponse"`
	responseHeader
	Volumes   []xmlVolume `xml:"volumeSet>item"`
	NextToken string      `xml:"nextToken,omitempty"`
}

type errorResponse struct {
	XMLName   xml.Name `xml:"Response"`
	Errors    []xmlErr `xml:"Errors>Error"`
	RequestID string   `xml:"RequestID"`
}

type xmlErr struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func writeXML(w http.ResponseWriter, status int, reqID string, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(b)
}

// APIError is an EC2 error response.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// StatusFor is the HTTP status EC2 answers an error code with.
func StatusFor(code string) int {
	switch code {
	case "RequestLimitExceeded", "ServiceUnavailable", "Unavailable":
		return http.StatusServiceUnavailable
	case "InternalError", "InternalFailure":
		return http.StatusInternalServerError
	case "UnauthorizedOperation", "AuthFailure", "Blocked", "OptInRequired":
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

func apiErr(code, format string, args ...any) *APIError {
	return &APIError{Status: StatusFor(code), Code: code, Message: sprintf(format, args...)}
}

func xmlName(local string) xml.Name { return xml.Name{Local: local} }
