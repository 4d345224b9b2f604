package mqtt

import (
	"strconv"
	"strings"
)

// Topic names below the prefix (inputs marked "in").
const (
	topicQuery       = "query"         // in
	topicAlertSet    = "alerts/set"    // in
	topicAlertDelete = "alerts/delete" // in
	topicAlertList   = "alerts/list"   // in
	topicThumbGet    = "thumb/get"     // in
	topicStatus      = "status"
	topicStats       = "stats"
	topicErrors      = "errors"
	broadcastDevice  = "all"
)

type topics struct {
	prefix string // "<root>/<device>/"
	root   string
}

func (t topics) inputs() []string {
	return []string{
		t.prefix + topicQuery, t.prefix + topicAlertSet, t.prefix + topicAlertDelete,
		t.prefix + topicAlertList, t.prefix + topicThumbGet, t.broadcast(),
	}
}

func (t topics) broadcast() string          { return BroadcastTopic(t.root) }
func (t topics) status() string             { return t.prefix + topicStatus }
func (t topics) stats() string              { return t.prefix + topicStats }
func (t topics) errors() string             { return t.prefix + topicErrors }
func (t topics) result(id string) string    { return t.prefix + "result/" + id }
func (t topics) thumb(seq uint64) string    { return t.prefix + "thumb/" + strconv.FormatUint(seq, 10) }
func (t topics) alertState(n string) string { return t.prefix + "alerts/" + n + "/state" }
func (t topics) alertEvent(n string) string { return t.prefix + "alerts/" + n + "/event" }

// BroadcastTopic is the query topic every device of the fleet listens on.
func BroadcastTopic(root string) string { return root + "/" + broadcastDevice + "/" + topicQuery }

// DevicePrefix is the default prefix of a device.
func DevicePrefix(root, device string) string { return root + "/" + device + "/" }

// kind says which request a topic carries.
type kind int

const (
	kindUnknown kind = iota
	kindQuery
	kindAlertSet
	kindAlertDelete
	kindAlertList
	kindThumb
)

func (k kind) String() string {
	return [...]string{"unknown", "query", "alerts/set", "alerts/delete", "alerts/list", "thumb/get"}[k]
}

func (t topics) kindOf(topic string) kind {
	if topic == t.broadcast() {
		return kindQuery
	}
	switch strings.TrimPrefix(topic, t.prefix) {
	case topicQuery:
		return kindQuery
	case topicAlertSet:
		return kindAlertSet
	case topicAlertDelete:
		return kindAlertDelete
	case topicAlertList:
		return kindAlertList
	case topicThumbGet:
		return kindThumb
	}
	return kindUnknown
}

// replyAllowed keeps reply_to out of the fleet's own namespace, so that a
// request cannot make a device publish onto another device's inputs,
// status or alert topics: under "<root>/" only ".../result/..." and
// ".../reply/..." topics are allowed.
func (t topics) replyAllowed(replyTo string) bool {
	if strings.HasPrefix(replyTo, t.prefix) {
		return strings.HasPrefix(replyTo, t.prefix+"result/")
	}
	rest, under := strings.CutPrefix(replyTo, t.root+"/")
	if !under {
		return true
	}
	levels := strings.Split(rest, "/")
	if len(levels) < 3 {
		return false
	}
	for _, l := range levels[1 : len(levels)-1] {
		if l == "result" || l == "reply" {
			return true
		}
	}
	return false
}
