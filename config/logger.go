package config

import (
	"io"
	"log/slog"
	"strings"
)

// Handler builds the slog handler that log.level and log.format describe,
// writing to w (stderr, which systemd sends to the journal).
func (l Log) Handler(w io.Writer) (slog.Handler, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToLower(l.Level))); err != nil {
		return nil, keyErr("log.level", "%q: want one of debug, info, warn, error", l.Level)
	}
	o := &slog.HandlerOptions{Level: level}
	switch l.Format {
	case "text":
		return slog.NewTextHandler(w, o), nil
	case "json":
		return slog.NewJSONHandler(w, o), nil
	}
	return nil, keyErr("log.format", "%q: want one of text, json", l.Format)
}
