package mqtt

import (
	"encoding/json"
	"fmt"
)

// HAOptions turn on Home Assistant MQTT discovery.
type HAOptions struct {
	DiscoveryPrefix string   // default "homeassistant"
	DeviceName      string   // shown in Home Assistant; default the device id
	Temperatures    []string // board sensors to expose, keys of Stats.TempsC (e.g. "cpu")
}

// DiscoveryMessage is one retained config message; an empty Payload removes
// the entity.
type DiscoveryMessage struct {
	Topic   string          `json:"topic"`
	Payload json.RawMessage `json:"payload"`
}

// haAvailability maps the JSON status to what Home Assistant expects, so
// "stopped" and "offline" both read as unavailable.
const haAvailability = "{{ 'online' if value_json.state == 'online' else 'offline' }}"

type haDevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	SWVersion    string   `json:"sw_version,omitempty"`
}

type haEntity struct {
	Name                 string   `json:"name"`
	UniqueID             string   `json:"unique_id"`
	StateTopic           string   `json:"state_topic"`
	ValueTemplate        string   `json:"value_template,omitempty"`
	PayloadOn            string   `json:"payload_on,omitempty"`
	PayloadOff           string   `json:"payload_off,omitempty"`
	DeviceClass          string   `json:"device_class,omitempty"`
	StateClass           string   `json:"state_class,omitempty"`
	Unit                 string   `json:"unit_of_measurement,omitempty"`
	AvailabilityTopic    string   `json:"availability_topic"`
	AvailabilityTemplate string   `json:"availability_template"`
	PayloadAvailable     string   `json:"payload_available"`
	PayloadNotAvailable  string   `json:"payload_not_available"`
	Device               haDevice `json:"device"`
}

// DiscoveryConfigs builds the Home Assistant discovery messages for a
// device: a binary_sensor per standing alert (state from
// alerts/<name>/state) and sensors for fps and each listed temperature (from
// stats), all available while status says online.
func DiscoveryConfigs(ha HAOptions, deviceID, prefix string, alerts []AlertSpec, version string) []DiscoveryMessage {
	if ha.DiscoveryPrefix == "" {
		ha.DiscoveryPrefix = "homeassistant"
	}
	if ha.DeviceName == "" {
		ha.DeviceName = deviceID
	}
	node := "edgeclip_" + deviceID
	dev := haDevice{Identifiers: []string{node}, Name: ha.DeviceName, Manufacturer: "edgeclip", Model: "edgeclip camera", SWVersion: version}
	base := func(name, id, state string) haEntity {
		return haEntity{
			Name: name, UniqueID: node + "_" + id, StateTopic: state,
			AvailabilityTopic: prefix + "status", AvailabilityTemplate: haAvailability,
			PayloadAvailable: "online", PayloadNotAvailable: "offline", Device: dev,
		}
	}
	var out []DiscoveryMessage
	add := func(component, id string, e haEntity) {
		b, _ := json.Marshal(e) // plain strings only: cannot fail
		out = append(out, DiscoveryMessage{Topic: fmt.Sprintf("%s/%s/%s/%s/config", ha.DiscoveryPrefix, component, node, id), Payload: b})
	}
	for _, a := range alerts {
		e := base("Alert "+a.Name, "alert_"+a.Name, prefix+"alerts/"+a.Name+"/state")
		e.PayloadOn, e.PayloadOff = "on", "off"
		add("binary_sensor", "alert_"+a.Name, e)
	}
	fps := base("Frames per second", "fps", prefix+"stats")
	fps.ValueTemplate, fps.StateClass, fps.Unit = "{{ value_json.fps }}", "measurement", "fps"
	add("sensor", "fps", fps)
	for _, t := range ha.Temperatures {
		if !isName(t, 64, "") {
			continue // a key that cannot be an entity id
		}
		e := base("Temperature "+t, "temp_"+t, prefix+"stats")
		e.ValueTemplate = fmt.Sprintf("{{ value_json.temps_c['%s'] if value_json.temps_c is defined and '%s' in value_json.temps_c else none }}", t, t)
		e.DeviceClass, e.StateClass, e.Unit = "temperature", "measurement", "°C"
		add("sensor", "temp_"+t, e)
	}
	return out
}

// DiscoveryRemoval is the message that deletes an alert's binary_sensor.
func DiscoveryRemoval(ha HAOptions, deviceID, alert string) DiscoveryMessage {
	if ha.DiscoveryPrefix == "" {
		ha.DiscoveryPrefix = "homeassistant"
	}
	node := "edgeclip_" + deviceID
	return DiscoveryMessage{Topic: fmt.Sprintf("%s/binary_sensor/%s/alert_%s/config", ha.DiscoveryPrefix, node, alert)}
}
