package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/promptev/promptev-bridge/adapters/slack"
	"github.com/promptev/promptev-bridge/chat"
)

// secretField is a field tagged secret, found by walking a section's value.
type secretField struct {
	path string
	v    reflect.Value
}

// secretFields walks v (a struct value, settable) and returns every field
// tagged secret:"true", with its YAML path.
func secretFields(v reflect.Value, path string) []secretField {
	var out []secretField
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if !f.IsExported() || tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		p := path
		if !strings.Contains(opts, "inline") {
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			p = childPath(path, name)
		}
		switch {
		case f.Tag.Get("secret") == "true":
			out = append(out, secretField{p, v.Field(i)})
		case f.Type.Kind() == reflect.Struct:
			out = append(out, secretFields(v.Field(i), p)...)
		}
	}
	return out
}

// TestCheckPrintRedactsEverySecret sets every secret field of every section
// (each registered platform's included) to a sentinel, enables every
// platform, and checks that the printed configuration shows none of them.
func TestCheckPrintRedactsEverySecret(t *testing.T) {
	cfg := DefaultConfig()
	d := newDocument()
	doc := d.value(cfg)
	fields := secretFields(doc.Elem(), "")
	sentinels := map[string]string{}
	platforms := map[string]int{}
	for _, f := range fields {
		sentinel := "SENTINEL-" + strings.NewReplacer(".", "-", "_", "-").Replace(f.path)
		sentinels[f.path] = sentinel
		switch f.v.Kind() {
		case reflect.String:
			f.v.SetString(sentinel)
		case reflect.Map:
			require.Equal(t, reflect.String, f.v.Type().Elem().Kind(), f.path)
			m := reflect.MakeMap(f.v.Type())
			m.SetMapIndex(reflect.ValueOf("X-Sentinel"), reflect.ValueOf(sentinel))
			f.v.Set(m)
		default:
			t.Fatalf("%s: secret field of kind %s", f.path, f.v.Kind())
		}
		section, _, _ := strings.Cut(f.path, ".")
		platforms[section]++
	}
	d.save(doc, &cfg)
	for _, r := range Platforms() {
		// Every section's enabled flag on, the way a deployment would set it.
		v := reflect.ValueOf(cfg.Section(r.Name)).Elem()
		if en := v.FieldByName("Enabled"); en.IsValid() {
			en.SetBool(true)
		}
	}

	// The tags are where the secrets are: the known ones must be among them.
	for _, p := range []string{"promptev.project_key", "promptev.headers", "slack.bot_token", "slack.app_token", "slack.signing_secret", "discord.token"} {
		assert.Contains(t, sentinels, p)
	}

	out, err := Printable(cfg)
	require.NoError(t, err)
	for p, s := range sentinels {
		assert.NotContains(t, string(out), s, "%s printed in clear", p)
	}
	assert.Equal(t, len(sentinels), strings.Count(string(out), Redacted), "every secret shows as %s", Redacted)
	for _, r := range Platforms() {
		assert.Contains(t, string(out), "\n"+r.Name+":\n", "the %s section is printed", r.Name)
	}
}

// TestSecretsAreTagged guards the one list of secrets: every string field
// (or map of strings) whose YAML name says token, secret, key or password,
// in every section and every registered platform's section, is tagged
// secret:"true".
func TestSecretsAreTagged(t *testing.T) {
	var untagged []string
	seen := 0
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for name, f := range yamlFields(t) {
			p := childPath(path, name)
			ft := f.typ
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			isText := ft.Kind() == reflect.String || (ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.String)
			if isText {
				seen++
				lower := strings.ToLower(name)
				for _, w := range []string{"token", "secret", "key", "password"} {
					if strings.Contains(lower, w) && !f.secret {
						untagged = append(untagged, p)
					}
				}
			}
			if ft.Kind() == reflect.Struct && ft != durationType {
				walk(ft, p)
			}
		}
	}
	walk(newDocument().typ, "")
	assert.Greater(t, seen, 20, "the walk must see the string fields")
	assert.Empty(t, untagged, "fields that look secret but are not tagged secret:\"true\"")
}

// TestProblemsNeverShowTaggedSecrets checks the other use of the tags: a
// value under a secret field is not echoed in its problem; others are.
func TestProblemsNeverShowTaggedSecrets(t *testing.T) {
	type section struct {
		Pin     int            `yaml:"pin" secret:"true"`
		Pins    map[string]int `yaml:"pins" secret:"true"`
		Retries int            `yaml:"retries"`
	}
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal([]byte("pin: abc-1\npins: {a: abc-2}\nretries: xyz\n"), &root))
	res := decodeResult{lines: map[string]int{}, fromEnv: map[string]bool{}}
	var ps chat.ConfigProblems
	checkNode(root.Content[0], reflect.TypeFor[section](), "s", false, &res, &ps)
	var got []string
	for _, p := range ps {
		got = append(got, p.Error())
	}
	assert.ElementsMatch(t, []string{
		"s.pin: expected a whole number, got a scalar (line 1)",
		"s.pins.a: expected a whole number, got a scalar (line 2)",
		`s.retries: expected a whole number, got "xyz" (line 3)`,
	}, got)

	d := newDocument()
	fields := yamlFields(d.typ)
	assert.True(t, yamlFields(fields["promptev"].typ)["project_key"].secret)
	assert.True(t, yamlFields(fields["slack"].typ)["bot_token"].secret, "platform sections carry their own tags")
	assert.False(t, yamlFields(fields["promptev"].typ)["base_url"].secret)
}

func TestPrintableLeavesOutUnsetOptionalParts(t *testing.T) {
	cfg, ps := Parse([]byte(minimalConfig), mapEnv(nil))
	require.Empty(t, ps)
	out, err := Printable(cfg)
	require.NoError(t, err)
	assert.NotContains(t, string(out), "null", "an unset route override is left out, as in the file")
	assert.Contains(t, string(out), "approvals:\n  policy: requester", "the approvals section itself stays")
	// What is printed loads back to the same configuration.
	back, ps := Parse(out, mapEnv(nil))
	require.Empty(t, ps)
	again, err := Printable(back)
	require.NoError(t, err)
	assert.Equal(t, string(out), string(again))
}

// The secrets of slack.oauth (an optional section, behind a pointer) are
// redacted too: the client secret and every token key.
func TestCheckPrintRedactsSlackOAuth(t *testing.T) {
	cfg := DefaultConfig()
	sl := cfg.Section(slack.Name).(*slack.Config)
	sl.Enabled, sl.Mode, sl.SigningSecret = true, slack.ModeHTTP, "sentinel-signing"
	sl.OAuth = &slack.OAuthConfig{ClientID: "123.456", ClientSecret: "sentinel-client-secret",
		RedirectURL: "https://b.example.com/cb", TokenKey: slack.TokenKeys{"sentinel-key-one", "sentinel-key-two"}}
	out, err := Printable(cfg)
	require.NoError(t, err)
	assert.Contains(t, string(out), "client_id: \"123.456\"")
	for _, secret := range []string{"sentinel-client-secret", "sentinel-key-one", "sentinel-key-two", "sentinel-signing"} {
		assert.NotContains(t, string(out), secret)
	}
}
