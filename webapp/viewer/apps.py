import mimetypes

from django.apps import AppConfig


class ViewerConfig(AppConfig):
    name = "webapp.viewer"
    label = "viewer"
    verbose_name = "Viewer"

    def ready(self) -> None:
        # The image decoders' WebAssembly must come as application/wasm or browsers refuse to
        # compile it in streaming mode; some systems' mime tables lack the type (whitenoise has it).
        mimetypes.add_type("application/wasm", ".wasm")
        mimetypes.add_type("text/javascript", ".js")
