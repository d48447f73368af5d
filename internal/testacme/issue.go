package testacme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/acme"
)

// Challenge is one DNS-01 challenge of an order, as cert-manager hands it to a solver.
type Challenge struct {
	// Domain is the identifier without "*." (what cert-manager passes as dnsName).
	Domain string
	// Wildcard is set for the *.Domain authorization.
	Wildcard bool
	// Value is the TXT value to present at _acme-challenge.<Domain>.
	Value string
}

// Solver presents and cleans up challenges, the way cert-manager drives a DNS-01 webhook.
type Solver interface {
	Present(ctx context.Context, ch Challenge) error
	CleanUp(ctx context.Context, ch Challenge) error
}

// Readier is a Solver that wants a turn between presenting every challenge and telling the CA to validate them:
// cert-manager's self-check (is the value visible in DNS yet?) happens there.
type Readier interface {
	Ready(ctx context.Context, presented []Challenge) error
}

// Result is an issued certificate.
type Result struct {
	// Chain is the leaf first, then the intermediates.
	Chain []*x509.Certificate
	// Challenges are the challenges the order needed, in the order they were presented.
	Challenges []Challenge
}

// Issue registers an account, orders a certificate for names, solves every DNS-01 challenge with s, finalizes
// and returns the chain after verifying it against the CA's roots. Every presented challenge is cleaned up
// before it returns, whether or not issuance succeeded. progress, if set, receives one line per step.
func (c *CA) Issue(ctx context.Context, names []string, s Solver, progress func(string)) (*Result, error) {
	say := func(format string, args ...any) {
		if progress != nil {
			progress(fmt.Sprintf(format, args...))
		}
	}
	accountKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	client := &acme.Client{Key: accountKey, DirectoryURL: c.DirectoryURL, HTTPClient: c.HTTPClient}
	if _, err := client.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		return nil, fmt.Errorf("registering the ACME account: %w", err)
	}
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs(names...))
	if err != nil {
		return nil, fmt.Errorf("creating the order: %w", err)
	}
	say("order %s: %d authorizations for %s", order.URI, len(order.AuthzURLs), strings.Join(names, ", "))

	type pending struct {
		ch       Challenge
		chal     *acme.Challenge
		authzURL string
	}
	var todo []pending
	res := &Result{}
	defer func() {
		// cert-manager cleans up every challenge once its authorization is final, valid or not.
		for _, p := range todo {
			cctx := context.WithoutCancel(ctx)
			if err := s.CleanUp(cctx, p.ch); err != nil {
				say("cleanup of %s failed: %v", label(p.ch), err)
			} else {
				say("cleaned up %s", label(p.ch))
			}
		}
	}()
	for _, u := range order.AuthzURLs {
		authz, err := client.GetAuthorization(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("reading authorization %s: %w", u, err)
		}
		i := slices.IndexFunc(authz.Challenges, func(ch *acme.Challenge) bool { return ch.Type == "dns-01" })
		if i < 0 {
			return nil, fmt.Errorf("authorization for %s offers no dns-01 challenge", authz.Identifier.Value)
		}
		value, err := client.DNS01ChallengeRecord(authz.Challenges[i].Token)
		if err != nil {
			return nil, err
		}
		ch := Challenge{Domain: authz.Identifier.Value, Wildcard: authz.Wildcard, Value: value}
		if err := s.Present(ctx, ch); err != nil {
			return nil, fmt.Errorf("presenting %s: %w", label(ch), err)
		}
		todo = append(todo, pending{ch: ch, chal: authz.Challenges[i], authzURL: u})
		res.Challenges = append(res.Challenges, ch)
		say("presented %s", label(ch))
	}
	if r, ok := s.(Readier); ok {
		if err := r.Ready(ctx, res.Challenges); err != nil {
			return nil, err
		}
	}
	for _, p := range todo {
		if _, err := client.Accept(ctx, p.chal); err != nil {
			return nil, fmt.Errorf("accepting the challenge for %s: %w", label(p.ch), err)
		}
	}
	var errs []error
	for _, p := range todo {
		if _, err := client.WaitAuthorization(ctx, p.authzURL); err != nil {
			errs = append(errs, fmt.Errorf("authorization for %s: %w", label(p.ch), err))
			continue
		}
		say("authorization for %s is valid: the CA read the TXT value through DNS", label(p.ch))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	ready, err := client.WaitOrder(ctx, order.URI)
	if err != nil {
		return nil, fmt.Errorf("waiting for the order to be ready: %w", err)
	}
	certKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, certKey)
	if err != nil {
		return nil, err
	}
	ders, _, err := client.CreateCertFromOrder(ctx, ready, csr, true)
	if err != nil {
		return nil, fmt.Errorf("finalizing the order: %w", err)
	}
	for _, der := range ders {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("parsing the issued chain: %w", err)
		}
		res.Chain = append(res.Chain, cert)
	}
	say("order finalized: %d certificates in the chain", len(res.Chain))
	return res, c.verify(res.Chain, names)
}

// verify checks the chain against Pebble's root for every name.
func (c *CA) verify(chain []*x509.Certificate, names []string) error {
	if len(chain) == 0 {
		return errors.New("the CA returned an empty chain")
	}
	roots, err := c.Roots()
	if err != nil {
		return err
	}
	inter := x509.NewCertPool()
	for _, cert := range chain[1:] {
		inter.AddCert(cert)
	}
	for _, name := range names {
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
			return fmt.Errorf("the issued certificate does not verify for %s: %w", name, err)
		}
	}
	return nil
}

func label(ch Challenge) string {
	if ch.Wildcard {
		return "*." + ch.Domain
	}
	return ch.Domain
}
