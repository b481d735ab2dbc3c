package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// logFlags are a daemon's --log-format and --log-level.
type logFlags struct{ format, level *string }

func (l *logFlags) register(fs *flag.FlagSet) {
	l.format = fs.String("log-format", "text", "log format: text or json")
	l.level = fs.String("log-level", "info", "log level: debug, info, warn or error")
}

// logger is the structured logger the flags ask for, writing to w; an
// error is a usage error.
func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	if err := oneOf("--log-format", *l.format, "text", "json"); err != nil {
		return nil, err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*l.level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if *l.format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}
