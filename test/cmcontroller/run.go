package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager"
	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	"github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	cracme "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/acme"
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"
	"k8s.io/apimachinery/pkg/api/resource"

	// Only for --extra-controllers: importing a controller package registers it in controllerpkg.Known().
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"

	// The issuers and clusterissuers controllers set up only the issuer types registered with pkg/issuer, and no
	// controller package registers one: cert-manager's cmd does, so an Issuer of an unimported type never gets
	// Ready ("issuer 'acme' not registered").
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// acmeControllers take a Certificate that refers to an ACME Issuer or ClusterIssuer to Ready: cert-manager's
// default controllers less the ingress and gateway shims, the certificate metrics and the other issuer types.
var acmeControllers = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	acmeorders.ControllerName,
	acmechallenges.ControllerName,
	cracme.CRControllerName,
	crapprover.ControllerName,
	trigger.ControllerName,
	issuing.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
}

// workers is the number of workers each controller runs: cert-manager's default (numberOfConcurrentWorkers).
const workers = 5

// run builds and runs the controllers until ctx is done or one of them fails, then stops them all and waits for
// them and their informers.
func run(ctx context.Context, cfg config) error {
	known := controllerpkg.Known()
	names, err := selectControllers(known, cfg.extraControllers)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctx = logf.NewContext(ctx, logf.Log, "controller")
	log := logf.FromContext(ctx)

	opts := contextOptions(cfg)
	log.V(logf.InfoLevel).Info("configured acme dns01 nameservers", "nameservers", opts.DNS01Nameservers,
		"checkAuthoritative", opts.DNS01CheckAuthoritative)
	factory, err := controllerpkg.NewContextFactory(ctx, opts)
	if err != nil {
		return fmt.Errorf("building the controller context from --kubeconfig %s: %w", cfg.kubeconfig, err)
	}

	// Every controller must be built before the informer factories start: building one asks the shared factories
	// for the informers it needs, and a factory starts only the informers asked for by then.
	ctrls := make([]controllerpkg.Interface, len(names))
	for i, name := range names {
		if ctrls[i], err = known[name](factory); err != nil {
			return fmt.Errorf("building controller %s: %w", name, err)
		}
	}
	// The factories are shared by every Context the factory builds, so any one of them starts them all.
	shared, err := factory.Build()
	if err != nil {
		return fmt.Errorf("building the shared controller context: %w", err)
	}
	shared.SharedInformerFactory.Start(ctx.Done())
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	// GWShared is not started: with Gateway API support off (the default) nothing asks it for an informer.

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i, name := range names {
		wg.Go(func() {
			err := ctrls[i].Run(workers, ctx)
			// Run fails when the context ends before the caches sync: that is a stop, not a failure.
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("controller %s: %w", name, err))
				mu.Unlock()
				cancel()
			}
		})
	}
	log.Info("started controllers", "controllers", names, "workers", workers)
	wg.Go(func() {
		if cachesSynced(ctx, shared) {
			log.Info("informer caches synced")
		}
	})

	<-ctx.Done()
	log.Info("stopping controllers")
	wg.Wait()
	shared.SharedInformerFactory.Shutdown()
	shared.KubeSharedInformerFactory.Shutdown()
	shared.HTTP01ResourceMetadataInformersFactory.Shutdown()
	log.Info("controllers stopped")
	return errors.Join(errs...)
}

// selectControllers returns the ACME set and the extra names, checking that each is registered.
func selectControllers(known map[string]controllerpkg.Constructor, extra []string) ([]string, error) {
	names := slices.Clone(acmeControllers)
	var errs []error
	for _, name := range names {
		if _, ok := known[name]; !ok {
			errs = append(errs, fmt.Errorf("controller %s is not registered: the cert-manager module no longer "+
				"registers it under that name", name))
		}
	}
	for _, name := range extra {
		switch {
		case slices.Contains(names, name):
			continue
		case known[name] == nil:
			errs = append(errs, fmt.Errorf("--extra-controllers: %s is not a registered controller: choose from %s",
				name, strings.Join(slices.Sorted(maps.Keys(known)), ", ")))
		default:
			names = append(names, name)
		}
	}
	return names, errors.Join(errs...)
}

// contextOptions returns cert-manager's default controller configuration (internal/apis/config/controller/v1alpha1
// defaults.go, mapped to ContextOptions as cmd/controller does) with the flags applied.
func contextOptions(cfg config) controllerpkg.ContextOptions {
	nameservers := cfg.dns01Nameservers
	if len(nameservers) == 0 {
		nameservers = dnsutil.RecursiveNameservers // cert-manager's fallback: /etc/resolv.conf, else 8.8.8.8, 8.8.4.4
	}
	return controllerpkg.ContextOptions{
		Kubeconfig: cfg.kubeconfig,
		// Used only when the apiserver does not do API Priority and Fairness; when it does, client-side rate
		// limiting is off.
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		Namespace:          "", // all namespaces; the clusterissuers controller needs it
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterResourceNamespace:        cfg.clusterResourceNamespace,
			ClusterIssuerAmbientCredentials: true,
			IssuerAmbientCredentials:        false,
		},
		ACMEOptions: controllerpkg.ACMEOptions{
			HTTP01SolverImage:                 "quay.io/jetstack/cert-manager-acmesolver:" + certManagerVersion(),
			HTTP01SolverResourceRequestCPU:    resource.MustParse("10m"),
			HTTP01SolverResourceRequestMemory: resource.MustParse("64Mi"),
			HTTP01SolverResourceLimitsCPU:     resource.MustParse("100m"),
			HTTP01SolverResourceLimitsMemory:  resource.MustParse("64Mi"),
			ACMEHTTP01SolverRunAsNonRoot:      true,
			DNS01CheckAuthoritative:           !cfg.dns01NameserversOnly,
			DNS01Nameservers:                  nameservers,
			DNS01CheckRetryPeriod:             10 * time.Second,
		},
		IngressShimOptions: controllerpkg.IngressShimOptions{
			DefaultIssuerKind:                 "Issuer",
			DefaultIssuerGroup:                cmapi.GroupName,
			DefaultAutoCertificateAnnotations: []string{"kubernetes.io/tls-acme"},
		},
		CertificateOptions: controllerpkg.CertificateOptions{
			EnableOwnerRef:           false,
			CopiedAnnotationPrefixes: []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			// A failed request is retried after 1h, doubling up to 32h: a failing test does not heal by waiting.
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
		SchedulerOptions: controllerpkg.SchedulerOptions{MaxConcurrentChallenges: 60},
	}
}

// certManagerVersion is the version of the cert-manager module built in, for the HTTP-01 solver image tag that a
// release build gets from util.AppVersion (which is "canary" here, since it is set with -ldflags).
func certManagerVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/cert-manager/cert-manager" && dep.Version != "" && dep.Replace == nil {
				return dep.Version
			}
		}
	}
	return util.AppVersion
}

// cachesSynced waits until every started informer has synced, or ctx is done. It reports whether all synced.
func cachesSynced(ctx context.Context, c *controllerpkg.Context) bool {
	return allTrue(c.KubeSharedInformerFactory.WaitForCacheSync(ctx.Done())) &&
		allTrue(c.SharedInformerFactory.WaitForCacheSync(ctx.Done())) &&
		allTrue(c.HTTP01ResourceMetadataInformersFactory.WaitForCacheSync(ctx.Done())) &&
		ctx.Err() == nil
}

func allTrue[K comparable](m map[K]bool) bool {
	for _, ok := range m {
		if !ok {
			return false
		}
	}
	return true
}
