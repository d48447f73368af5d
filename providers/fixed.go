package providers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
)

// Slots is the fixed strategy's bookkeeping for ACME-DNS (DESIGN.md "Write strategies"). ACME-DNS serves one
// name per account and keeps its two latest values there, overwriting the least recently updated one on every
// update; it cannot delete. One account serving several names (cert-manager#3610) would let a third Present
// evict a value the CA is about to read. So every account has two slots, each recording the value pushed last
// into one of ACME-DNS's two rows and when: a Present may push only into the slot holding the oldest push, and
// only when that slot is free (its CleanUp ran, or it expired); otherwise it fails at once and cert-manager
// retries. The slots are Leases in the webhook's namespace, updated with optimistic concurrency, so they hold
// across replicas.
type Slots struct {
	// Client reads and writes the slot Leases.
	Client coordinationclient.LeasesGetter
	// Namespace holds them: the webhook's own (POD_NAMESPACE).
	Namespace string
	// Expiry frees a slot whose CleanUp never came; default DefaultSlotExpiry.
	Expiry time.Duration
	// now is the clock; tests move it.
	now func() time.Time
}

// DefaultSlotExpiry is how long a pushed value keeps its slot without a CleanUp: longer than a challenge stays
// pending in practice (cert-manager's self-check, the CA's validation), short enough that a lost CleanUp does not
// block an account for long.
const DefaultSlotExpiry = time.Hour

const (
	slotValue    = "cert-manager-webhook-delegate/value"
	slotPushedAt = "cert-manager-webhook-delegate/pushed-at"
	slotFree     = "cert-manager-webhook-delegate/free"
	slotName     = "cert-manager-webhook-delegate/name"
)

// ErrAccountBusy is a Present refused because both of the ACME-DNS account's values are still needed.
var ErrAccountBusy = errors.New("the ACME-DNS account already serves two values that pending challenges need (ACME-DNS keeps " +
	"only two per account, and a third would evict one the CA may be about to read); cert-manager will retry once " +
	"one of them is cleaned up")

type slot struct {
	lease    *coordinationv1.Lease
	value    string
	name     string
	pushedAt time.Time
	free     bool
}

func (s *Slots) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

func (s *Slots) expiry() time.Duration {
	if s.Expiry > 0 {
		return s.Expiry
	}
	return DefaultSlotExpiry
}

func slotLeaseName(fulldomain string, i int) string {
	sum := sha256.Sum256([]byte(fulldomain))
	return fmt.Sprintf("cert-manager-webhook-delegate-acmedns-%s-%d", hex.EncodeToString(sum[:8]), i)
}

func (s *Slots) ready() error {
	if s == nil || s.Client == nil || s.Namespace == "" {
		return errors.New("ACME-DNS keeps two values per account, and the webhook records which slot holds which " +
			"in Leases in its own namespace, which is not known: set the environment variable POD_NAMESPACE (the " +
			"Helm chart does)")
	}
	return nil
}

// read returns the account's two slots, creating them when missing.
func (s *Slots) read(ctx context.Context, fulldomain string) ([2]*slot, error) {
	var out [2]*slot
	leases := s.Client.Leases(s.Namespace)
	for i := range out {
		name := slotLeaseName(fulldomain, i)
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			lease, err = leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: s.Namespace,
				Labels:      map[string]string{"app.kubernetes.io/managed-by": "cert-manager-webhook-delegate"},
				Annotations: map[string]string{"cert-manager-webhook-delegate/fulldomain": fulldomain},
			}}, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				lease, err = leases.Get(ctx, name, metav1.GetOptions{})
			}
		}
		if err != nil {
			return out, fmt.Errorf("reading the ACME-DNS slot Lease %s/%s: %w", s.Namespace, name, err)
		}
		sl := &slot{lease: lease, value: lease.Annotations[slotValue], name: lease.Annotations[slotName],
			free: lease.Annotations[slotFree] == "true"}
		sl.pushedAt, _ = time.Parse(time.RFC3339Nano, lease.Annotations[slotPushedAt])
		if sl.value == "" || s.clock().Sub(sl.pushedAt) > s.expiry() {
			sl.free = true
		}
		out[i] = sl
	}
	return out, nil
}

// write stores sl's fields in its Lease, failing on a conflict with another replica's write.
func (s *Slots) write(ctx context.Context, sl *slot) error {
	lease := sl.lease.DeepCopy()
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[slotValue] = sl.value
	lease.Annotations[slotName] = sl.name
	lease.Annotations[slotPushedAt] = sl.pushedAt.UTC().Format(time.RFC3339Nano)
	lease.Annotations[slotFree] = fmt.Sprint(sl.free)
	_, err := s.Client.Leases(s.Namespace).Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// Claim reserves a slot of the account at fulldomain for value before it is pushed. It reports pushed=true when
// the value already holds a slot (a repeated Present: pushing again would evict the sibling value), and returns
// ErrAccountBusy when the slot ACME-DNS would overwrite next is still needed. undo frees the claim again when the
// push fails.
func (s *Slots) Claim(ctx context.Context, fulldomain, value, dnsName string) (pushed bool, undo func(), err error) {
	if err := s.ready(); err != nil {
		return false, nil, err
	}
	for attempt := 0; attempt < 8; attempt++ {
		slots, err := s.read(ctx, fulldomain)
		if err != nil {
			return false, nil, err
		}
		for _, sl := range slots {
			if sl.value == value && !sl.free {
				return true, nil, nil
			}
		}
		// ACME-DNS overwrites the row updated least recently: the slot with the oldest push.
		victim := slots[0]
		if slots[1].pushedAt.Before(victim.pushedAt) {
			victim = slots[1]
		}
		if !victim.free {
			return false, nil, fmt.Errorf("%w (it serves %s for %s, pushed %s ago)", ErrAccountBusy, fulldomain,
				victim.name, s.clock().Sub(victim.pushedAt).Round(time.Second))
		}
		claimed := *victim
		claimed.value, claimed.name, claimed.pushedAt, claimed.free = value, dnsName, s.clock(), false
		err = s.write(ctx, &claimed)
		if apierrors.IsConflict(err) {
			continue // another replica changed the slots meanwhile: decide again
		}
		if err != nil {
			return false, nil, fmt.Errorf("claiming an ACME-DNS slot: %w", err)
		}
		return false, func() { _ = s.Release(context.WithoutCancel(ctx), fulldomain, value) }, nil
	}
	return false, nil, errors.New("the ACME-DNS slots kept changing under this call; cert-manager will retry")
}

// Release frees the slot holding value, after its CleanUp; a value in no slot is nothing to release. The
// push time stays: it orders the slots as ACME-DNS orders its rows.
func (s *Slots) Release(ctx context.Context, fulldomain, value string) error {
	if err := s.ready(); err != nil {
		return err
	}
	for attempt := 0; attempt < 8; attempt++ {
		slots, err := s.read(ctx, fulldomain)
		if err != nil {
			return err
		}
		var held *slot
		for _, sl := range slots {
			if sl.value == value && !sl.free {
				held = sl
			}
		}
		if held == nil {
			return nil
		}
		held.free = true
		err = s.write(ctx, held)
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("freeing the ACME-DNS slot: %w", err)
		}
		return nil
	}
	return errors.New("the ACME-DNS slots kept changing under this call; cert-manager will retry")
}
