package main

import (
	"context"
	"fmt"
	"io"

	"github.com/edgeclip/edgeclip/config"
)

func init() {
	register(command{name: "config", short: "print a fully commented example configuration, or check a config file", run: runConfig})
}

const configUsage = `example|check [flags]

  example              print every key with its default and what it does
  check                validate a config file (plus environment and --set) and
                       print every problem with its key, as 'edgeclip run --check'`

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config", configUsage, stderr)
	cfgPath := fs.String("config", "", "check: YAML config file (default: only the environment and --set)")
	sets := fs.StringArray("set", nil, "check: set a config key: KEY=VALUE (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pos := fs.Args()
	switch {
	case len(pos) == 1 && pos[0] == "example":
		if fs.Changed("config") || fs.Changed("set") {
			fmt.Fprintln(stderr, "edgeclip config example takes no flags")
			return errUsage
		}
		_, err := io.WriteString(stdout, config.Example())
		return err
	case len(pos) == 1 && pos[0] == "check":
		cfg, err := config.Load(*cfgPath)
		var problems []error
		if err != nil {
			problems = append(problems, err)
		}
		problems = append(problems, applySets(cfg, *sets)...)
		problems = append(problems, cfg.Check()...)
		return reportCheck(stdout, cfg, problems)
	}
	fs.Usage()
	return errUsage
}
