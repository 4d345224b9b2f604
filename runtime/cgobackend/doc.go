// Package cgobackend holds what the backends over a native C library
// (runtime/ort, runtime/tflite) share: finding the library, the on-disk
// cache of exported files, and the Session that serialises calls to the
// native towers and checks their arguments. It is pure Go, so that it
// builds and is tested without cgo.
package cgobackend
