// Package deploy holds no code. Its folder has the container image (Dockerfile, image.sh),
// the Compose files and the Kubernetes manifests of hess, plaintext and secured (mutual
// TLS and the shared token: compose.secure.yaml, k8s/secure/), and its tests check them:
//
//   - manifests_test.go decodes every manifest in k8s/ strictly into the Kubernetes API
//     types (an unknown or misspelt field fails) and checks that they agree with one
//     another: the Job's --workers name is the headless Service, the ports and probes
//     match, nothing runs as root, and the workers' memory request covers their tiles.
//     manifests_secure_test.go does the same for k8s/secure/, in place of the plaintext
//     StatefulSet and Job, and checks the security: the four files from one read-only
//     Secret, the certificate's name, probes on the plaintext health port, and no other
//     difference from the plaintext objects.
//   - compose_test.go does the same for compose.yaml, and compose_secure_test.go for it
//     merged with compose.secure.yaml (the merge checked against the Compose tool's).
//   - e2e_test.go builds the image and trains on three worker containers on a real Docker
//     engine, against the in-process run; compose_e2e_test.go runs compose.yaml itself,
//     and compose_secure_e2e_test.go the secured Compose setup, with the clients it must
//     refuse. They skip, saying why, only where no Docker engine answers; .ci/run makes
//     sure one does.
package deploy
