package gateway

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Home Assistant MQTT discovery (home-assistant.io, integrations/mqtt,
// "MQTT Discovery"). pitweet writes every option by its full name, never
// the abbreviations, and sends no object_id (deprecated in 2025.10):
// unique_id and the device name are enough for Home Assistant to name the
// entities.

// component is one entry of a device discovery payload's "components", or
// the body of a per-component payload.
type component struct {
	Platform string `json:"platform"`
	UniqueID string `json:"unique_id,omitempty"`
	Name     string `json:"name,omitempty"`

	// sensor
	StateTopic       string   `json:"state_topic,omitempty"`
	DeviceClass      string   `json:"device_class,omitempty"`
	Unit             string   `json:"unit_of_measurement,omitempty"`
	StateClass       string   `json:"state_class,omitempty"`
	DisplayPrecision *int     `json:"suggested_display_precision,omitempty"`
	ExpireAfter      int      `json:"expire_after,omitempty"`
	EventTypes       []string `json:"event_types,omitempty"`

	// device_automation (a device trigger)
	AutomationType string `json:"automation_type,omitempty"`
	Topic          string `json:"topic,omitempty"`
	Payload        string `json:"payload,omitempty"`
	Type           string `json:"type,omitempty"`
	Subtype        string `json:"subtype,omitempty"`

	// Only in per-component payloads: what a device payload shares.
	*shared
}

// shared is what a device payload states once for all its components.
type shared struct {
	Device              map[string]any `json:"device"`
	Origin              map[string]any `json:"origin"`
	AvailabilityTopic   string         `json:"availability_topic"`
	PayloadAvailable    string         `json:"payload_available"`
	PayloadNotAvailable string         `json:"payload_not_available"`
	QoS                 int            `json:"qos"`
}

// devicePayload is the whole device discovery payload.
type devicePayload struct {
	shared
	Components map[string]component `json:"components"`
}

// discovery is what pitweet publishes for Home Assistant: topic → payload,
// retained. In the device style it is one topic.
type discovery map[string][]byte

// components lists the entities of s, by component id.
func (s *settings) components() map[string]component {
	cs := map[string]component{}
	expire := 0
	if s.ReadingInterval > 0 {
		expire = int((3 * s.ReadingInterval).Round(time.Second) / time.Second)
	}
	for _, se := range s.Sensors {
		for _, qname := range se.Quantities {
			q := quantities[qname]
			id := se.Name + "_" + q.topic
			p := q.precision
			cs[id] = component{
				Platform:         "sensor",
				UniqueID:         s.nodeID + "_" + objectID(id),
				Name:             title(se.Name) + " " + strings.ToLower(qname),
				StateTopic:       s.readingTopic(se.Name, qname),
				DeviceClass:      q.deviceClass,
				Unit:             q.unit,
				StateClass:       "measurement",
				DisplayPrecision: &p,
				ExpireAfter:      expire,
			}
		}
	}
	for _, b := range s.Buttons {
		types := []string{"press"}
		if b.LongPress {
			types = append(types, "long_press")
		}
		cs[b.Name+"_event"] = component{
			Platform:    "event",
			UniqueID:    s.nodeID + "_" + objectID(b.Name) + "_event",
			Name:        title(b.Name) + " button",
			StateTopic:  s.eventTopic(b.Name),
			EventTypes:  types,
			DeviceClass: "button",
		}
		// Device triggers match the plain payload on the button topic.
		// The subtype is the button's name: Home Assistant shows it as
		// "door" pressed.
		cs[b.Name+"_short"] = component{
			Platform: "device_automation", AutomationType: "trigger",
			Topic: s.buttonTopic(b.Name), Payload: "press",
			Type: "button_short_press", Subtype: b.Name,
		}
		if b.LongPress {
			cs[b.Name+"_long"] = component{
				Platform: "device_automation", AutomationType: "trigger",
				Topic: s.buttonTopic(b.Name), Payload: "long_press",
				Type: "button_long_press", Subtype: b.Name,
			}
		}
	}
	return cs
}

func (s *settings) shared() shared {
	dev := map[string]any{
		"identifiers":  []string{s.nodeID},
		"name":         s.Device.Name,
		"manufacturer": "pitweet",
		"model":        s.Device.Model,
	}
	origin := map[string]any{"name": "pitweet"}
	if s.Device.SWVersion != "" {
		dev["sw_version"] = s.Device.SWVersion
		origin["sw_version"] = s.Device.SWVersion
	}
	return shared{
		Device: dev, Origin: origin,
		AvailabilityTopic: s.statusTopic(),
		PayloadAvailable:  online, PayloadNotAvailable: offline,
		QoS: 1,
	}
}

// discovery builds the retained discovery messages for the current
// entities. With Discovery off it is empty.
func (s *settings) discovery() discovery {
	d := discovery{}
	if !s.Discovery {
		return d
	}
	cs := s.components()
	if s.DiscoveryStyle == "device" {
		d[s.deviceConfigTopic()] = mustJSON(devicePayload{shared: s.shared(), Components: cs})
		return d
	}
	sh := s.shared()
	for id, c := range cs {
		c.shared = &sh
		d[s.componentConfigTopic(c.Platform, id)] = mustJSON(c)
	}
	return d
}

// removal is the device payload that removes the components in gone: each
// reduced to its platform, as Home Assistant's "Device discovery payload"
// section says ("An empty config can be published as an update to remove a
// single component"). Those still configured are kept as they are.
func (s *settings) removal(gone map[string]string) []byte {
	cs := map[string]component{}
	if s.Discovery {
		cs = s.components()
	}
	for id, platform := range gone {
		if _, ok := cs[id]; !ok {
			cs[id] = component{Platform: platform}
		}
	}
	return mustJSON(devicePayload{shared: s.shared(), Components: cs})
}

// retainedConfig is what pitweet reads back from a retained discovery
// config: a device config's components, or a per-component config's own
// platform, with their state topics. It comes from the broker, so it is
// parsed as outside input.
type retainedConfig struct {
	Platform   string `json:"platform"`
	StateTopic string `json:"state_topic"`
	Components map[string]struct {
		Platform   string `json:"platform"`
		StateTopic string `json:"state_topic"`
	} `json:"components"`
}

// parseRetainedConfig reads a retained discovery config: the components
// of a device config (id → platform), and the state topics of every
// component in it. A payload that is not one yields nothing.
func parseRetainedConfig(b []byte) (components map[string]string, stateTopics []string) {
	var rc retainedConfig
	if len(b) > 1<<20 || json.Unmarshal(b, &rc) != nil {
		return nil, nil
	}
	components = map[string]string{}
	for id, c := range rc.Components {
		if id == "" || len(id) > 200 || !validPlatform(c.Platform) {
			continue
		}
		components[id] = c.Platform
		if c.StateTopic != "" {
			stateTopics = append(stateTopics, c.StateTopic)
		}
	}
	if rc.StateTopic != "" {
		stateTopics = append(stateTopics, rc.StateTopic)
	}
	slices.Sort(stateTopics)
	return components, slices.Compact(stateTopics)
}

func validPlatform(p string) bool {
	return p != "" && len(p) <= 64 && !strings.ContainsFunc(p, func(r rune) bool { return !('a' <= r && r <= 'z' || r == '_') })
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only maps, slices, strings and numbers of our own go in.
		panic("gateway: discovery payload: " + err.Error())
	}
	return b
}

func title(s string) string {
	s = strings.NewReplacer("_", " ", "-", " ").Replace(s)
	r := []rune(s)
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}

// Topics.

const (
	online  = "online"
	offline = "offline"
)

func (s *settings) statusTopic() string  { return s.TopicPrefix + "/status" }
func (s *settings) postedTopic() string  { return s.TopicPrefix + "/posted" }
func (s *settings) commandTopic() string { return s.TopicPrefix + "/post" }
func (s *settings) birthTopic() string   { return s.DiscoveryPrefix + "/status" }

func (s *settings) readingTopic(sensor, q string) string {
	return s.TopicPrefix + "/sensor/" + sensor + "/" + quantities[q].topic
}
func (s *settings) buttonTopic(b string) string { return s.TopicPrefix + "/button/" + b }
func (s *settings) eventTopic(b string) string  { return s.buttonTopic(b) + "/event" }

// deviceConfigTopic is <discovery_prefix>/device/<node>/config.
func (s *settings) deviceConfigTopic() string {
	return s.DiscoveryPrefix + "/device/" + s.nodeID + "/config"
}

// componentConfigTopic is <discovery_prefix>/<platform>/<node>/<id>/config:
// the node id level lets pitweet find its own configs with one wildcard.
func (s *settings) componentConfigTopic(platform, id string) string {
	return s.DiscoveryPrefix + "/" + platform + "/" + s.nodeID + "/" + objectID(id) + "/config"
}

// componentConfigFilter matches every per-component config of this device.
func (s *settings) componentConfigFilter() string {
	return s.DiscoveryPrefix + "/+/" + s.nodeID + "/+/config"
}

// sortedKeys lists m's keys in order, for deterministic publishing.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
