// Package deploy holds no code. Its folder has the container image (Dockerfile, image.sh),
// the Compose file and the Kubernetes manifests of hess, and its tests check them:
//
//   - manifests_test.go decodes every manifest in k8s/ strictly into the Kubernetes API
//     types (an unknown or misspelt field fails) and checks that they agree with one
//     another: the Job's --workers name is the headless Service, the ports and probes
//     match, nothing runs as root, and the workers' memory request covers their tiles.
//   - compose_test.go does the same for compose.yaml.
//   - e2e_test.go builds the image and trains on three worker containers on a real Docker
//     engine, against the in-process run; compose_e2e_test.go runs compose.yaml itself.
//     They skip, saying why, only where no Docker engine answers; .ci/run makes sure one
//     does.
package deploy
