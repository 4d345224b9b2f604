// Package deploy carries the files that install edgeclip as a system
// service, so the binary and `make install` ship the same ones: the systemd
// unit and the sysusers.d entry that creates its user.
package deploy

import _ "embed"

// Unit is edgeclip.service, for /etc/systemd/system/edgeclip.service.
//
//go:embed edgeclip.service
var Unit string

// Sysusers is sysusers.d/edgeclip.conf, for /usr/lib/sysusers.d/edgeclip.conf.
//
//go:embed sysusers.d/edgeclip.conf
var Sysusers string
