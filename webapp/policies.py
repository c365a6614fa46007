"""The browser policies the site sends with every response (settings.py imports them): what a
page may load and run (Content-Security-Policy, django-csp) and which browser features it may
use (Permissions-Policy, django-permissions-policy). On in development and tests too, so that
every browser test runs under them."""

# Content-Security-Policy (django-csp): scripts and styles only from the site itself; no inline
# script anywhere. The viewer's image decoders are WebAssembly ('wasm-unsafe-eval', never
# 'unsafe-eval') and Cornerstone runs them in workers it may create from blobs. Style
# *attributes* are allowed (progress bars are drawn with a width); <style> elements are not,
# except on the API documentation page, whose third-party UI injects them
# (webapp/api/urls.py relaxes style-src there, and only there).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Permissions-Policy (django-permissions-policy): the site uses none of the browser's devices.
_DEVICES_NOT_USED = "accelerometer autoplay camera display-capture geolocation gyroscope magnetometer microphone midi payment usb"
PERMISSIONS_POLICY = {feature: [] for feature in _DEVICES_NOT_USED.split()} | {"fullscreen": ["self"]}
