package bridge

import (
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitText(t *testing.T) {
	para := func(word string, n int) string { return strings.TrimSpace(strings.Repeat(word+" ", n)) }
	tests := []struct {
		name string
		md   string
		max  int
		want []string
	}{
		{"fits", "hello world", 20, []string{"hello world"}},
		{"empty", "", 20, []string{""}},
		{"exactly max", "héllo", 5, []string{"héllo"}},
		{"paragraphs", "aaaa aaaa\n\nbbbb bbbb\n\ncccc", 20, []string{"aaaa aaaa\n\nbbbb bbbb", "cccc"}},
		{"lines", "aaaa aaaa\nbbbb bbbb\ncccc", 20, []string{"aaaa aaaa\nbbbb bbbb", "cccc"}},
		{"sentences", "One two three. Four five six. Seven.", 30, []string{"One two three. Four five six.", "Seven."}},
		{"words", "alpha beta gamma delta epsilon", 12, []string{"alpha beta", "gamma delta", "epsilon"}},
		{"hard cut between runes", "ééééééé", 3, []string{"ééé", "ééé", "é"}},
		{"line in the second half preferred over word", "aaaaaaaaaa\n\nbbbbb\nccccc dd", 25, []string{"aaaaaaaaaa\n\nbbbbb", "ccccc dd"}},
		{"paragraph preferred over line", "aaaaaaaaaa\nbbbbb\n\nccccc\ndd ee", 25, []string{"aaaaaaaaaa\nbbbbb", "ccccc\ndd ee"}},
		{"late paragraph preferred", para("a", 10) + "\n\n" + para("b", 3) + " " + para("c", 3), 30,
			[]string{para("a", 10), para("b", 3) + " " + para("c", 3)}},
		{"a heading starts the next chunk", "Intro text here, long enough.\n\n## Details\n\nMore text follows now.", 45,
			[]string{"Intro text here, long enough.", "## Details\n\nMore text follows now."}},
		{"invalid utf-8 replaced", "ab\xffcd", 10, []string{"ab\uFFFDcd"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := splitText(tc.md, tc.max)
			assert.Equal(t, tc.want, got)
			for _, c := range got {
				assert.LessOrEqual(t, utf8.RuneCountInString(c), tc.max)
			}
		})
	}
}

func TestSplitTextFences(t *testing.T) {
	code := strings.Repeat("fmt.Println(\"héllo, wörld\")\n", 12) // 12 lines of 28 runes
	md := "Here is the code:\n\n```go\n" + code + "```\n\nThat was it."
	chunks := splitText(md, 200)
	require.Greater(t, len(chunks), 1)
	for i, c := range chunks {
		assert.LessOrEqual(t, utf8.RuneCountInString(c), 200, "chunk %d", i)
		assert.Nil(t, scanFences(nil, c), "chunk %d is balanced:\n%s", i, c)
	}
	assert.True(t, strings.HasPrefix(chunks[1], "```go\n"), "the next chunk re-opens with the info string:\n%s", chunks[1])
	assert.True(t, strings.HasSuffix(chunks[0], "\n```"), "the first chunk closes the fence:\n%s", chunks[0])
	assert.Equal(t, nonFenceText(md), nonFenceText(strings.Join(chunks, "\n")))
	// Code lines are never cut in the middle when a line boundary is available.
	for _, c := range chunks {
		for _, line := range strings.Split(c, "\n") {
			if strings.HasPrefix(line, "fmt") {
				assert.Equal(t, `fmt.Println("héllo, wörld")`, line)
			}
		}
	}
}

func TestSplitTextFenceEdgeCases(t *testing.T) {
	long := strings.Repeat("x", 150)
	tests := []struct {
		name string
		md   string
		max  int
	}{
		{"tilde fence", "~~~python\n" + strings.Repeat("print(1)\n", 40) + "~~~\n", 128},
		{"four backticks containing three", "````md\n```go\n" + strings.Repeat("code line\n", 30) + "```\n````\nafter", 128},
		{"unclosed fence", "```\n" + strings.Repeat("line of code\n", 30), 128},
		{"long line in fence", "```\n" + long + "\n" + long + "\n```", 128},
		{"fence-like text mid line", strings.Repeat("word ``` word ", 40), 128},
		{"crlf", "```js\r\n" + strings.Repeat("let a = 1;\r\n", 30) + "```\r\n", 128},
		{"large input without line breaks", strings.Repeat("wörd ", 200_000), 128},
		{"large input in one fence", "```\n" + strings.Repeat("x := 1 // ok\n", 50_000) + "```", 1900},
		{"small max ignores fences", "```\n" + strings.Repeat("ab ", 50) + "\n```", 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chunks := splitText(tc.md, tc.max)
			require.NotEmpty(t, chunks)
			for i, c := range chunks {
				assert.LessOrEqual(t, utf8.RuneCountInString(c), tc.max, "chunk %d", i)
				assert.True(t, utf8.ValidString(c))
				if tc.max >= minFenceMax {
					assert.Nil(t, scanFences(nil, c), "chunk %d is balanced:\n%s", i, c)
				}
			}
			if tc.max >= minFenceMax {
				assert.Equal(t, nonFenceText(tc.md), nonFenceText(strings.Join(chunks, "\n")))
			} else {
				assert.Equal(t, noSpace(tc.md), noSpace(strings.Join(chunks, "")))
			}
		})
	}
}

// nonFenceText returns md without its fence lines and without white space:
// what splitting must preserve.
func nonFenceText(md string) string {
	var b strings.Builder
	var open *fence
	for _, line := range strings.Split(md, "\n") {
		next := stepFence(open, line)
		isFenceLine := (open == nil && next != nil) || (open != nil && next == nil)
		open = next
		if !isFenceLine {
			b.WriteString(line)
		}
	}
	return noSpace(b.String())
}

func noSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

func FuzzSplitText(f *testing.F) {
	f.Add("Hello **world**.\n\nSecond paragraph with a sentence. And another one!", 128)
	f.Add("```go\nfunc main() {\n\tfmt.Println(\"hi\")\n}\n```\n\nDone.", 128)
	f.Add("~~~\n````\ncode\n````\n~~~", 130)
	f.Add(strings.Repeat("世界 ", 200), 150)
	f.Add("a\xffb\n```\n"+strings.Repeat("x", 300), 128)
	f.Add("short ```\n@@ text", 7)
	f.Fuzz(func(t *testing.T, md string, max int) {
		if max < 1 || max > 1<<14 {
			max = 1 + (max&0xfff)%2000
		}
		chunks := splitText(md, max)
		require.NotEmpty(t, chunks)
		for i, c := range chunks {
			require.LessOrEqual(t, utf8.RuneCountInString(c), max, "chunk %d", i)
			require.True(t, utf8.ValidString(c), "chunk %d is valid UTF-8", i)
			if max >= minFenceMax {
				require.Nil(t, scanFences(nil, c), "chunk %d has balanced fences:\n%q", i, c)
			}
		}
		valid := strings.ToValidUTF8(md, "\uFFFD")
		if max >= minFenceMax {
			require.Equal(t, nonFenceText(valid), nonFenceText(strings.Join(chunks, "\n")),
				"the text outside fence lines is preserved")
		} else {
			require.Equal(t, noSpace(valid), noSpace(strings.Join(chunks, "")), "the text is preserved")
		}
	})
}

// longAnswer returns a realistic Markdown answer of n runes: paragraphs,
// bullet lists and code fences.
func longAnswer(n int) string {
	var b strings.Builder
	for i := 0; utf8.RuneCountInString(b.String()) < n; i++ {
		switch i % 4 {
		case 0:
			b.WriteString("## Section " + strings.Repeat("I", i%7+1) + "\n\n")
		case 1:
			b.WriteString(strings.Repeat("The deployment finished without errors, and the service answered every health check. ", 6) + "\n\n")
		case 2:
			b.WriteString("- first item with détails\n- second item\n- third item with `code`\n\n")
		default:
			b.WriteString("```go\n" + strings.Repeat("if err := run(ctx); err != nil {\n\treturn fmt.Errorf(\"run: %w\", err)\n}\n", 8) + "```\n\n")
		}
	}
	r := []rune(b.String())
	return string(r[:n])
}

func BenchmarkSplitText30k(b *testing.B) {
	md := longAnswer(30_000)
	for _, max := range []int{3900, 1900} {
		b.Run(fmt.Sprintf("max=%d", max), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(md)))
			var chunks int
			for b.Loop() {
				chunks = len(splitText(md, max))
			}
			b.ReportMetric(float64(chunks), "chunks")
		})
	}
}
