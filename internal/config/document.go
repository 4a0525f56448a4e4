package config

import (
	"reflect"
	"strconv"
	"strings"
)

// document is the type of the whole file: Config's sections, with each
// registered platform's section after store, in the order of the list of
// platforms. The loader checks and decodes the file against it, and check
// --print renders it, so the platforms' sections are ordinary YAML keys.
type document struct {
	typ reflect.Type
	// fields says where each field of typ lives: an index into Config, or
	// (index -1) the section of the platform named in platform.
	fields []docField
}

type docField struct {
	config   int
	platform string
}

var configType = reflect.TypeFor[Config]()

// newDocument builds the document type of the registered platforms.
func newDocument() document {
	var d document
	var sf []reflect.StructField
	for i := range configType.NumField() {
		f := configType.Field(i)
		if f.Tag.Get("yaml") == "-" {
			continue
		}
		sf = append(sf, reflect.StructField{Name: f.Name, Type: f.Type, Tag: f.Tag})
		d.fields = append(d.fields, docField{config: i})
		if f.Name != "Store" {
			continue
		}
		for j, r := range Platforms() {
			t := reflect.TypeOf(r.NewSection()).Elem()
			sf = append(sf, reflect.StructField{
				Name: "Platform" + strconv.Itoa(j),
				Type: t,
				Tag:  reflect.StructTag(`yaml:"` + r.Name + `"`),
			})
			d.fields = append(d.fields, docField{config: -1, platform: r.Name})
		}
	}
	d.typ = reflect.StructOf(sf)
	return d
}

// value returns a pointer to a new document holding c's values.
func (d document) value(c Config) reflect.Value {
	p := reflect.New(d.typ)
	v, cv := p.Elem(), reflect.ValueOf(c)
	for i, f := range d.fields {
		if f.config >= 0 {
			v.Field(i).Set(cv.Field(f.config))
			continue
		}
		if s := c.Platforms[f.platform]; s != nil {
			v.Field(i).Set(reflect.ValueOf(s).Elem())
		}
	}
	return p
}

// save copies the document p points to back into c.
func (d document) save(p reflect.Value, c *Config) {
	v, cv := p.Elem(), reflect.ValueOf(c).Elem()
	if c.Platforms == nil {
		c.Platforms = defaultSections()
	}
	for i, f := range d.fields {
		if f.config >= 0 {
			cv.Field(f.config).Set(v.Field(i))
			continue
		}
		s, ok := c.Platforms[f.platform]
		if !ok {
			continue
		}
		reflect.ValueOf(s).Elem().Set(v.Field(i))
	}
}

// KnownKey reports whether path, a YAML path as problems name them
// ("slack.bot_token", "routes.channels[0].agent", "promptev.headers.X-Team"),
// is a key of the configuration file. A key under a map (headers, variables)
// is any key. The README's test checks every key the setup section names.
func KnownKey(path string) bool {
	t := newDocument().typ
	for _, part := range strings.Split(path, ".") {
		name, index, _ := strings.Cut(part, "[")
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			f, ok := yamlFields(t)[name]
			if !ok || name == "" {
				return false
			}
			t = f.typ
		case reflect.Map:
			t = t.Elem()
		default:
			return false // a scalar has no keys
		}
		if index != "" {
			for t.Kind() == reflect.Pointer {
				t = t.Elem()
			}
			if t.Kind() != reflect.Slice {
				return false
			}
			t = t.Elem()
		}
	}
	return true
}
