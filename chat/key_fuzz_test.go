package chat

import (
	"strings"
	"testing"
)

// FuzzConversationKeyRoundTrip checks that the String form of any valid key
// parses back to the same key (the store and logs rely on it), and that an
// invalid key's String form is refused.
func FuzzConversationKeyRoundTrip(f *testing.F) {
	f.Add("slack", "T0FAKE", "C1", "1764331200.000100")
	f.Add("slack", "T0FAKE", "D1", "")
	f.Add("discord", "dm", "1300000000000000004", "")
	f.Add("discord", "1300000000000000001", "1300000000000000002", "1300000000000000003")
	f.Add("console", "local", "tty", "a1b2c3d4e5f6")
	f.Add("p/x", "w%2Fy", "c%25/%", "%2F%25%%2")
	f.Add("%", "/", "%2", "%252F")
	f.Add("", "w", "c", "t")
	f.Add("p", "w", "", "t")
	f.Add("p\x00", "\xff\xfe", "ü", "\u2044")
	f.Fuzz(func(t *testing.T, platform, workspace, channel, thread string) {
		k := ConversationKey{Platform: platform, Workspace: workspace, Channel: channel, Thread: thread}
		s := k.String()
		if n := strings.Count(s, "/"); n != 3 {
			t.Fatalf("String(%+v) = %q has %d separators", k, s, n)
		}
		got, err := ParseConversationKey(s)
		if !k.Valid() {
			if err == nil {
				t.Fatalf("ParseConversationKey(%q) accepted invalid key %+v as %+v", s, k, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseConversationKey(%q) of %+v: %v", s, k, err)
		}
		if got != k {
			t.Fatalf("round trip of %+v through %q gave %+v", k, s, got)
		}
	})
}

// FuzzParseConversationKey parses random strings: no panic, a parsed key
// is valid and stable (its String form parses to the same key).
func FuzzParseConversationKey(f *testing.F) {
	for _, s := range []string{
		"slack/T0FAKE/C1/1764331200.000100", "slack/T0FAKE/D1/", "discord/dm/1300000000000000004/",
		"console/local/tty/a1b2c3", "p%2Fx/w%252Fy/c/t", "slack/T/C", "slack/T/C/t/extra", "/w/c/t",
		"p/w//t", "", "///", "%2F/%25/%2f/%", "p/w/c%2/t%25%2F%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseConversationKey(s)
		if err != nil {
			if k != (ConversationKey{}) {
				t.Fatalf("error %v with key %+v", err, k)
			}
			return
		}
		if !k.Valid() {
			t.Fatalf("ParseConversationKey(%q) returned invalid key %+v", s, k)
		}
		again, err := ParseConversationKey(k.String())
		if err != nil || again != k {
			t.Fatalf("%q parsed to %+v, whose String %q parsed to %+v, %v", s, k, k.String(), again, err)
		}
	})
}
