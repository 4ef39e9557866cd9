# Sourced by the Dockerfiles' install steps (POSIX sh). Trusts the base image's CAs plus the optional
# bundle the build passes in (.build/ca-bundle.pem, empty when none), for pip only and only while
# building; drops mirror settings that were passed empty.
if [ -s /opt/odpipe-build/ca-bundle.pem ]; then
    cat /etc/ssl/certs/ca-certificates.crt /opt/odpipe-build/ca-bundle.pem > /tmp/odpipe-ca.pem 2>/dev/null \
        || cp /opt/odpipe-build/ca-bundle.pem /tmp/odpipe-ca.pem
    export PIP_CERT=/tmp/odpipe-ca.pem
fi
for var in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS; do
    eval "value=\${$var:-}"
    if [ -z "$value" ]; then unset "$var"; fi
done
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
