package fakedesec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// canonical returns a record's content in the canonical presentation form deSEC stores (it parses and prints
// records with dnspython). Only TXT and SPF are canonicalised in full, the types DNS-01 writes: each
// character-string quoted, '"' and '\' escaped with a backslash, other bytes outside printable ASCII as \DDD
// (decimal). Other types have their whitespace collapsed. The error reads as deSEC's message once capitalised.
func canonical(typ, content string) (string, error) {
	if typ != "TXT" && typ != "SPF" {
		c := strings.Join(strings.Fields(content), " ")
		if c == "" {
			return "", errors.New("record content malformed: empty")
		}
		return c, nil
	}
	parts, err := parseStrings(content)
	if err != nil {
		return "", fmt.Errorf("record content for type %s malformed: %w", typ, err)
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		var b strings.Builder
		b.WriteByte('"')
		for j := 0; j < len(p); j++ {
			switch c := p[j]; {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20 || c > 0x7e:
				fmt.Fprintf(&b, "\\%03d", c)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		out[i] = b.String()
	}
	return strings.Join(out, " "), nil
}

// parseStrings splits TXT presentation form into its character-strings: quoted strings (with \X and \DDD
// escapes) or bare words, each at most 255 bytes.
func parseStrings(content string) ([]string, error) {
	s := strings.TrimSpace(content)
	if s == "" {
		return nil, errors.New("expected a string")
	}
	var out []string
	for s != "" {
		var b strings.Builder
		i := 0
		if s[0] == '"' {
			i = 1
			closed := false
			for i < len(s) && !closed {
				switch c := s[i]; {
				case c == '"':
					closed = true
					i++
				case c == '\\' && i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]):
					n, _ := strconv.Atoi(s[i+1 : i+4])
					if n > 255 {
						return nil, errors.New("bad escape")
					}
					b.WriteByte(byte(n))
					i += 4
				case c == '\\' && i+1 < len(s):
					b.WriteByte(s[i+1])
					i += 2
				case c == '\\':
					return nil, errors.New("unexpected end of input")
				default:
					b.WriteByte(c)
					i++
				}
			}
			if !closed {
				return nil, errors.New("unterminated quoted string")
			}
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' {
				if s[i] == '"' {
					return nil, errors.New("unexpected quote in unquoted string")
				}
				b.WriteByte(s[i])
				i++
			}
		}
		if b.Len() > 255 {
			return nil, errors.New("string too long")
		}
		out = append(out, b.String())
		s = strings.TrimLeft(s[i:], " \t")
	}
	return out, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// txtTexts returns the text each TXT record carries, its strings joined.
func txtTexts(records []string) []string {
	out := make([]string, 0, len(records))
	for _, r := range records {
		parts, err := parseStrings(r)
		if err != nil {
			out = append(out, r)
			continue
		}
		out = append(out, strings.Join(parts, ""))
	}
	return out
}
