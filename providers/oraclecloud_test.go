//go:build !minimal

package providers

import (
	"testing"

	"github.com/libdns/oraclecloud"
)

func TestOracleCloudRefuses(t *testing.T) {
	t.Parallel()
	ok := func() *oraclecloud.Provider {
		return &oraclecloud.Provider{TenancyOCID: "t", UserOCID: "u", Fingerprint: "f", PrivateKey: "k", Region: "us-ashburn-1"}
	}
	for _, tc := range []struct {
		change func(*oraclecloud.Provider)
		want   string
	}{
		{func(p *oraclecloud.Provider) { p.Auth = "instance_principal" }, "auth"},
		{func(p *oraclecloud.Provider) { p.Auth = "config_file" }, "auth"},
		{func(p *oraclecloud.Provider) { p.ConfigFile = "/root/.oci/config" }, "config_file: is not allowed"},
		{func(p *oraclecloud.Provider) { p.ConfigProfile = "DEFAULT" }, "config_profile: is not allowed"},
		{func(p *oraclecloud.Provider) { p.PrivateKeyPath = "/etc/key.pem" }, "private_key_path: is not allowed"},
		{func(p *oraclecloud.Provider) { p.Region = "attacker.example/" }, "region"},
		{func(p *oraclecloud.Provider) { p.Region = "us-ashburn-1.attacker.example#" }, "region"},
	} {
		p := ok()
		tc.change(p)
		refused(t, oraclecloudEntry(), p, tc.want)
	}
	for _, r := range []string{"us-ashburn-1", "us-gov-ashburn-1", "iad"} {
		p := ok()
		p.Region = r
		newTestWriter(t, oraclecloudEntry(), p, testEnv(nil))
	}
}
