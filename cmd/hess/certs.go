package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func init() {
	register("certs", "make a CA, a certificate for the whole cluster and a token (for --tls-* and --token-file)", runCerts)
}

// The files that `hess certs` writes, with the names the Kubernetes Secret hess-tls and
// the Compose override expect.
const (
	certsCAFile    = "ca.pem"      // the CA's certificate: --tls-ca
	certsCertFile  = "tls.pem"     // the cluster's certificate: --tls-cert
	certsKeyFile   = "tls-key.pem" // its private key: --tls-key (0600)
	certsTokenFile = "token"       // the shared token: --token-file (0600)
)

// runCerts writes what a secured cluster needs, for users who have no PKI of their own
// and no openssl (the image has no shell): an ECDSA P-256 CA, one certificate signed by it
// that every member (workers and coordinator) presents, usable for server and client
// authentication, with the DNS names and IP addresses of --names, and a random token. The
// CA's key is not kept: to change the names, make everything again.
func runCerts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("certs", "--out DIR --names NAME[,NAME...] [--valid 8760h] [--force]", stderr)
	var (
		out   = fs.String("out", "", "folder to write ca.pem, tls.pem, tls-key.pem and token into (made if missing)")
		names = fs.String("names", "", "comma-separated DNS names and IP addresses the certificate is valid for; give the name the clients pass as --tls-server-name (the workers' Service: hess-worker, or worker in Compose)")
		valid = fs.Duration("valid", 365*24*time.Hour, "validity of the CA and the certificate")
		force = fs.Bool("force", false, "replace the files if they exist")
	)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("certs: --out is empty; want a folder")
	}
	if *valid < time.Hour {
		return fmt.Errorf("certs: --valid %v: want at least 1h", *valid)
	}
	dns, ips, err := parseCertNames(*names)
	if err != nil {
		return err
	}
	now := time.Now()
	files, err := makeCerts(dns, ips, now, *valid)
	if err != nil {
		return err
	}
	if err := writeCerts(*out, files, *force); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s, %s, %s (0600) and %s (0600) in %s for %s, valid until %s\n",
		certsCAFile, certsCertFile, certsKeyFile, certsTokenFile, *out, strings.Join(append(dns, ipStrings(ips)...), ","),
		now.Add(*valid).UTC().Format(time.DateOnly))
	return nil
}

// parseCertNames splits a comma-separated list into DNS names and IP addresses.
func parseCertNames(list string) (dns []string, ips []net.IP, err error) {
	for n := range strings.SplitSeq(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if !validDNSName(n) {
			return nil, nil, fmt.Errorf("certs: --names: %q is neither an IP address nor a DNS name", n)
		}
		dns = append(dns, strings.ToLower(n))
	}
	if len(dns)+len(ips) == 0 {
		return nil, nil, errors.New("certs: --names is empty; want the workers' DNS name (e.g. hess-worker), and any other names or IPs they are dialed by")
	}
	return dns, ips, nil
}

// validDNSName reports whether s is a DNS name of letters, digits and hyphens in labels
// of at most 63 characters (a leading "*." for a wildcard), at most 253 in all.
func validDNSName(s string) bool {
	s = strings.TrimPrefix(strings.TrimSuffix(s, "."), "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for l := range strings.SplitSeq(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func ipStrings(ips []net.IP) []string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return s
}

// certFile is one file that makeCerts produces.
type certFile struct {
	name string
	data []byte
	mode fs.FileMode
}

// makeCerts makes the CA, the cluster's certificate and key, and the token, valid from
// a few minutes before now (for clocks that disagree a little) for valid.
func makeCerts(dns []string, ips []net.IP, now time.Time, valid time.Duration) ([]certFile, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	notBefore, notAfter := now.Add(-5*time.Minute), now.Add(valid)
	caTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "hess cluster CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true, // it signs the cluster's certificate, no other CA
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("certs: the CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	cn := "hess"
	if len(dns) > 0 {
		cn = dns[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Every member both serves (workers) and calls (the coordinator, and workers
		// pushing tiles to their peers) with this one certificate.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    dns,
		IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("certs: the certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, err
	}
	return []certFile{
		{certsCAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644},
		{certsCertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644},
		{certsKeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600},
		{certsTokenFile, []byte(hex.EncodeToString(tok[:]) + "\n"), 0o600},
	}, nil
}

// randomSerial returns a random positive serial number of 127 bits.
func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("hess: crypto/rand: " + err.Error()) // crypto/rand does not fail on Linux
	}
	return n.Add(n, big.NewInt(1))
}

// writeCerts writes the files into dir with their modes. Without force it refuses to
// replace any file (and writes none); with force it removes them first, so that a key
// is never left with the mode of an older file.
func writeCerts(dir string, files []certFile, force bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("certs: --out: %w", err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if _, err := os.Lstat(p); err == nil {
			if !force {
				return fmt.Errorf("certs: %s exists; remove it or give --force to replace the files", p)
			}
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("certs: %w", err)
			}
		}
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		// O_EXCL: a file that appeared since the check (or a link planted there) is not
		// written through. The mode is set explicitly, whatever the umask.
		fd, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.mode)
		if err != nil {
			return fmt.Errorf("certs: %w", err)
		}
		_, werr := fd.Write(f.data)
		cerr := fd.Chmod(f.mode)
		if err := errors.Join(werr, cerr, fd.Close()); err != nil {
			return fmt.Errorf("certs: %s: %w", p, err)
		}
	}
	return nil
}
