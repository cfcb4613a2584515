"""image-automation-controller: image scanning, policies and update automation commits."""
