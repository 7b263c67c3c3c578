// Package plots draws the project's pictures as PNG files with gonum.org/v1/plot:
// spy plots of the Hessian's sparsity ([Spy]), the ten 28x28 weight images of a
// softmax-regression model ([WeightImages]), eigenvalue spectra on a logarithmic
// axis ([Spectrum]) and Newton training curves ([TrainingCurve]).
//
// # Conventions
//
// Every function validates its input before it creates the file, so a call that
// returns an input error leaves nothing behind; errors start with "plots: " and
// the function name, and name the offending field, index or path.
//
// Matrices and images are drawn the way matplotlib's spy and imshow draw them:
// matrix row 0 and image row 0 are at the top. Weight vectors use the flat order
// of MATH.md, v[10*j+k] = W[j,k] with pixel j = 28*row + col, and image k shows
// column k of W. Raster data is resampled to the device pixels with
// nearest-neighbour sampling when enlarged and with the darkest covered cell when
// reduced, so every non-zero cell of a spy plot stays visible.
//
// A logarithmic axis cannot show values <= 0: such values, and values below
// 1e-18 times the largest value of their series, are drawn at a floor one decade
// below the smallest drawable value, and the legend says how many there were.
//
// All pictures are rendered at 96 dots per inch; sizes below are in vg units
// (1 inch = 72 points).
package plots
