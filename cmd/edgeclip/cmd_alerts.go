package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeclip/edgeclip/mqtt"
)

func init() {
	register(command{name: "alerts", short: "list, set or delete a device's standing alerts over MQTT", run: runAlerts})
}

const alertsUsage = `list|set|delete [flags] [NAME [TEXT]]

  list                 the device's standing alerts
  set NAME TEXT        create or replace alert NAME: on while frames match TEXT
  delete NAME          remove alert NAME`

func runAlerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("alerts", alertsUsage, stderr)
	var cf connFlags
	cf.register(fs, 5*time.Second)
	device := fs.String("device", defaultDevice(), "device id (default: this host's, as 'edgeclip run' uses)")
	threshold := fs.Float64("threshold", 0, "set: calibrated score (0..1] that starts the alert (default: the device's, 0.6)")
	minDur := fs.Duration("min-duration", 0, "set: how long the score must hold before the alert starts")
	cooldown := fs.Duration("cooldown", 0, "set: quiet time after an alert ends before it may start again")
	negatives := fs.StringArray("negative", nil, "set: a prompt the text must beat, e.g. \"a person walking past\" (repeatable)")
	noContrast := fs.Bool("no-contrast", false, "set: do not calibrate against the text's contrast prompts (one word swapped)")
	asJSON := fs.Bool("json", false, "list: print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pos := fs.Args()
	if len(pos) == 0 {
		fs.Usage()
		return errUsage
	}
	want := map[string]int{"list": 1, "set": 3, "delete": 2}
	n, ok := want[pos[0]]
	if !ok || len(pos) < n || (pos[0] != "set" && len(pos) > n) {
		fmt.Fprintf(stderr, "edgeclip alerts: want list, set NAME TEXT or delete NAME; got %q\n", strings.Join(pos, " "))
		fs.Usage()
		return errUsage
	}
	opts, err := cf.options(fs)
	if err != nil {
		return err
	}
	opts.Logger = cliLogger(stderr)
	switch pos[0] {
	case "list":
		alerts, err := mqtt.ListAlerts(ctx, opts, *device, cf.deadline)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(alerts)
		}
		writeAlertsTable(stdout, alerts)
		return nil
	case "set":
		a := mqtt.AlertSpec{Name: pos[1], Text: strings.Join(pos[2:], " "), Threshold: *threshold,
			MinDurationMS: minDur.Milliseconds(), CooldownMS: cooldown.Milliseconds(), Negatives: *negatives, NoContrast: *noContrast}
		if err := mqtt.CheckAlert(a, mqtt.Limits{}); err != nil {
			return err
		}
		if err := mqtt.SetAlert(ctx, opts, *device, a, cf.deadline); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "alert %s set on %s\n", a.Name, *device)
		return nil
	default:
		if err := mqtt.DeleteAlert(ctx, opts, *device, pos[1], cf.deadline); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "alert %s deleted on %s\n", pos[1], *device)
		return nil
	}
}

func writeAlertsTable(w io.Writer, alerts []mqtt.AlertSpec) {
	if len(alerts) == 0 {
		fmt.Fprintln(w, "no standing alerts")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTHRESHOLD\tMIN DURATION\tCOOLDOWN\tTEXT")
	for _, a := range alerts {
		th := "default"
		if a.Threshold != 0 {
			th = fmt.Sprintf("%.2f", a.Threshold)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Name, th, time.Duration(a.MinDurationMS)*time.Millisecond,
			time.Duration(a.CooldownMS)*time.Millisecond, a.Text)
	}
	tw.Flush()
}
