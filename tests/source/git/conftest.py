"""Git test servers and repository builders (from ``tests.fixtures.gitservers``)."""

from tests.fixtures import gitservers

git_root = gitservers.git_root
make_repo = gitservers.make_repo
tls_material = gitservers.tls_material
gpg_key = gitservers.gpg_key
other_gpg_key = gitservers.other_gpg_key
ssh_signing_key = gitservers.ssh_signing_key
start_http = gitservers.start_http
http_server = gitservers.http_server
git_daemon = gitservers.git_daemon
sshd = gitservers.sshd
