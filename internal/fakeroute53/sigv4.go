package fakeroute53

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxSkew is how far X-Amz-Date may be from the server's clock: AWS refuses signatures more than 15 minutes off.
const maxSkew = 15 * time.Minute

// authenticate checks the request's SigV4 signature as AWS does, answering with AWS's error codes. Where AWS
// names what it received, the fake does too, and a little more (the unknown access key id, the unknown session
// token): tests of the webhook's redaction rely on such echoes. The secret key never travels, so it cannot be
// echoed.
func (s *Server) authenticate(r *http.Request, body []byte) (reply, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return apiError(http.StatusForbidden, "MissingAuthenticationToken", "Missing Authentication Token"), false
	}
	algo, params, _ := strings.Cut(h, " ")
	fields := map[string]string{}
	for _, p := range strings.Split(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if algo != "AWS4-HMAC-SHA256" || len(scope) != 5 || scope[4] != "aws4_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return apiError(http.StatusBadRequest, "IncompleteSignature",
			"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters with the AWS4-HMAC-SHA256 algorithm."), false
	}
	keyID, date, region, service := scope[0], scope[1], scope[2], scope[3]
	key, known := s.cfg.keys[keyID]
	if !known {
		return apiError(http.StatusForbidden, "InvalidClientTokenId",
			fmt.Sprintf("The security token included in the request is invalid. (access key id %q is not known)", keyID)), false
	}
	if tok := r.Header.Get("X-Amz-Security-Token"); tok != key.token {
		return apiError(http.StatusForbidden, "InvalidClientTokenId",
			fmt.Sprintf("The security token included in the request is invalid. (security token %q for access key id %q)", tok, keyID)), false
	}
	if service != SigningService {
		return apiError(http.StatusForbidden, "SignatureDoesNotMatch", "Credential should be scoped to correct service: '"+SigningService+"'. "), false
	}
	if region != SigningRegion {
		return apiError(http.StatusForbidden, "SignatureDoesNotMatch", "Credential should be scoped to a valid region. "), false
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, date) {
		return apiError(http.StatusBadRequest, "IncompleteSignature", "Date must be in ISO-8601 'basic format' and match the credential scope."), false
	}
	if d := s.now().Sub(t); d > maxSkew || d < -maxSkew {
		return apiError(http.StatusForbidden, "SignatureDoesNotMatch",
			fmt.Sprintf("Signature expired: %s is now earlier or later than the server's time by more than 15 minutes.", amzDate)), false
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !slices.Contains(signed, "host") {
		return apiError(http.StatusForbidden, "SignatureDoesNotMatch", "'Host' must be a 'SignedHeader' in the AWS Authorization."), false
	}
	want := signature(key.secret, date, region, service, amzDate, canonicalRequest(r, signed, body))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return apiError(http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."), false
	}
	return reply{}, true
}

// canonicalRequest builds SigV4's canonical request from the request as received. The path is URI-encoded
// once more (every service but S3 signs it double-encoded); the query is sorted and encoded with %20 for a
// space, as the AWS SDK for Go signs it.
func canonicalRequest(r *http.Request, signed []string, body []byte) string {
	query := r.URL.Query()
	for k := range query {
		slices.Sort(query[k])
	}
	var headers strings.Builder
	for _, name := range signed {
		var v string
		switch name {
		case "host":
			v = r.Host
		case "content-length":
			// net/http moves Content-Length out of the header map.
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			vals := r.Header.Values(name)
			for i := range vals {
				vals[i] = strings.Join(strings.Fields(vals[i]), " ")
			}
			v = strings.Join(vals, ",")
		}
		headers.WriteString(name + ":" + v + "\n")
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	return strings.Join([]string{
		r.Method,
		escapePath(r.URL.EscapedPath()),
		strings.ReplaceAll(query.Encode(), "+", "%20"),
		headers.String(),
		strings.Join(signed, ";"),
		payload,
	}, "\n")
}

func escapePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' || c == '-' || c == '_' || c == '.' || c == '~' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func signature(secret, date, region, service, amzDate, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{"AWS4-HMAC-SHA256", amzDate, date + "/" + region + "/" + service + "/aws4_request", hex.EncodeToString(sum[:])}, "\n")
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	k = hmacSHA256(k, "aws4_request")
	return hex.EncodeToString(hmacSHA256(k, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
