// kubeadm_checks.go - what `kubeadm join --control-plane` checks about the node
// certificates it finds already in place, restated with Go's standard library only, from
// kubeadm's cmd/kubeadm/app/phases/certs/certs.go (writeCertificateFilesIfNotExist: the
// key loads, the chain verifies against the CA for any key usage, then
// validateCertificateWithConfig: VerifyHostname for every DNS name and IP address of the
// certificate's configuration) and the alternative names of certlist.go /
// util/pkiutil/pki_helpers.go (GetAPIServerAltNames, GetEtcdAltNames,
// GetEtcdPeerAltNames). One addition of ours: the key must be the certificate's
// (tls.X509KeyPair), and, when -algorithm is given, of that algorithm.
//
//	go run kubeadm_checks.go -pki DIR -node-name N -advertise IP [-endpoint HOST[:PORT]]
//	    [-cert-sans A,B] [-etcd-server-sans A,B] [-etcd-peer-sans A,B]
//	    [-service-subnet CIDR] [-dns-domain D] [-algorithm ECDSA-P256|...]
//
// Prints "ok NAME" per certificate; exits 1 at the first one kubeadm would refuse.
package main

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
)

type altNames struct {
	dns []string
	ips []net.IP
}

func (a *altNames) add(s string) {
	if ip := net.ParseIP(s); ip != nil {
		a.ips = append(a.ips, ip)
	} else if s != "" {
		a.dns = append(a.dns, s)
	}
}

func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// The first address of the service subnet (kubeadm: GetAPIServerVirtualIP, the network
// address plus one, of the first subnet of a dual-stack list).
func serviceIP(subnets string) (net.IP, error) {
	_, n, err := net.ParseCIDR(strings.Split(subnets, ",")[0])
	if err != nil {
		return nil, err
	}
	v := new(big.Int).SetBytes(n.IP)
	v.Add(v, big.NewInt(1))
	b := v.Bytes()
	ip := make(net.IP, len(n.IP))
	copy(ip[len(ip)-len(b):], b)
	return ip, nil
}

// The host part of a control-plane endpoint (kubeadm: ParseHostPort).
func endpointHost(ep string) string {
	if host, _, err := net.SplitHostPort(ep); err == nil {
		return host
	}
	return strings.Trim(ep, "[]")
}

func load(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

func keyMatches(pub any, algorithm string) bool {
	switch algorithm {
	case "":
		return true
	case "RSA-2048", "RSA-3072", "RSA-4096":
		k, ok := pub.(*rsa.PublicKey)
		return ok && fmt.Sprintf("RSA-%d", k.N.BitLen()) == algorithm
	case "ECDSA-P256", "ECDSA-P384":
		k, ok := pub.(*ecdsa.PublicKey)
		return ok && "ECDSA-"+strings.ReplaceAll(k.Curve.Params().Name, "-", "") == algorithm
	}
	return false
}

func check(dir, base, caBase string, names *altNames, algorithm string) error {
	crtPath := filepath.Join(dir, base+".crt")
	if _, err := tls.LoadX509KeyPair(crtPath, filepath.Join(dir, base+".key")); err != nil {
		return fmt.Errorf("failure loading %s certificate and key: %v", base, err)
	}
	cert, err := load(crtPath)
	if err != nil {
		return err
	}
	ca, err := load(filepath.Join(dir, caBase+".crt"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("certificate %s is not signed by corresponding CA: %v", base, err)
	}
	if names != nil {
		for _, d := range names.dns {
			if err := cert.VerifyHostname(d); err != nil {
				return fmt.Errorf("certificate %s is invalid: %v", base, err)
			}
		}
		for _, ip := range names.ips {
			if err := cert.VerifyHostname(ip.String()); err != nil {
				return fmt.Errorf("certificate %s is invalid: %v", base, err)
			}
		}
	}
	if !keyMatches(cert.PublicKey, algorithm) {
		return fmt.Errorf("certificate %s: key is not %s", base, algorithm)
	}
	return nil
}

func main() {
	dir := flag.String("pki", "", "PKI directory")
	node := flag.String("node-name", "", "node name")
	adv := flag.String("advertise", "", "advertise address")
	endpoint := flag.String("endpoint", "", "controlPlaneEndpoint")
	certSANs := flag.String("cert-sans", "", "apiServer.certSANs")
	serverSANs := flag.String("etcd-server-sans", "", "etcd.local.serverCertSANs")
	peerSANs := flag.String("etcd-peer-sans", "", "etcd.local.peerCertSANs")
	subnet := flag.String("service-subnet", "10.96.0.0/12", "networking.serviceSubnet")
	domain := flag.String("dns-domain", "cluster.local", "networking.dnsDomain")
	algorithm := flag.String("algorithm", "", "encryptionAlgorithm")
	flag.Parse()

	svc, err := serviceIP(*subnet)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	api := &altNames{dns: []string{*node, "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc." + *domain}}
	api.ips = append(api.ips, svc, net.ParseIP(*adv))
	if *endpoint != "" {
		api.add(endpointHost(*endpoint))
	}
	for _, s := range list(*certSANs) {
		api.add(s)
	}
	etcd := func(extra string) *altNames {
		a := &altNames{dns: []string{*node, "localhost"},
			ips: []net.IP{net.ParseIP(*adv), net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
		for _, s := range list(extra) {
			a.add(s)
		}
		return a
	}
	certs := []struct {
		base, ca string
		names    *altNames
	}{
		{"apiserver", "ca", api},
		{"apiserver-kubelet-client", "ca", nil},
		{"front-proxy-client", "front-proxy-ca", nil},
		{"apiserver-etcd-client", "etcd/ca", nil},
		{"etcd/server", "etcd/ca", etcd(*serverSANs)},
		{"etcd/peer", "etcd/ca", etcd(*peerSANs)},
		{"etcd/healthcheck-client", "etcd/ca", nil},
	}
	for _, c := range certs {
		if err := check(*dir, c.base, c.ca, c.names, *algorithm); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("ok", c.base)
	}
}
