"""
The hook's named operations: each checks its arguments against its catalogue entry, then makes the one call.

:class:`~airflow_provider_vyro.hooks.vyro.VyroHook` has these methods; they are kept here so the
hook's module holds the connection, the session and the one call path
(:meth:`~airflow_provider_vyro.hooks.vyro.VyroHook.call_to` and its in-memory twin
:meth:`~airflow_provider_vyro.hooks.vyro.VyroHook.call`) that every one of them makes.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, overload

from airflow_provider_vyro import checks
from airflow_provider_vyro.catalogue import (
    AI_BACKGROUND,
    GENERATIVE_FILL,
    INPAINT,
    REMOVE_BACKGROUND,
    UPSCALE,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_provider_vyro.catalogue import Endpoint
    from airflow_provider_vyro.hooks.answers import ImageResult
    from airflow_provider_vyro.hooks.uploads import ImageSource


class NamedOperations:
    """The named operations of :class:`~airflow_provider_vyro.hooks.vyro.VyroHook`, and ``post_image``."""

    if TYPE_CHECKING:

        def call(
            self, endpoint: Endpoint, *, fields: Mapping[str, str], files: Mapping[str, ImageSource]
        ) -> bytes:
            """Make one call and return the image (the hook's one call path)."""

        def call_to(
            self,
            endpoint: Endpoint,
            destination: IO[bytes],
            *,
            fields: Mapping[str, str],
            files: Mapping[str, ImageSource],
        ) -> ImageResult:
            """Make one call and stream the image into ``destination`` (the hook's one call path)."""

    def inpaint(
        self,
        *,
        image: ImageSource,
        mask: ImageSource,
        prompt: str,
        model_version: str = "1",
    ) -> bytes:
        """
        Inpaint ``image`` where ``mask`` is white, guided by ``prompt``, and return the PNG.

        Holds the answer in memory; for large images use :meth:`inpaint_to`, which streams it.

        :param image: the image (JPEG or PNG by content): a local path, its bytes, or a binary file
            (read whole, from its start; a file that cannot seek is read into memory first).
        :param mask: the mask, of the image's size, in the same forms.
        :param prompt: what to put where the mask is.
        :param model_version: the API's model version.
        :return: the inpainted PNG.
        """
        fields = checks.check_fields(INPAINT, {"prompt": prompt, "model_version": model_version})
        return self.call(INPAINT, fields=fields, files={"image": image, "mask": mask})

    def inpaint_to(
        self,
        destination: IO[bytes],
        *,
        image: ImageSource,
        mask: ImageSource,
        prompt: str,
        model_version: str = "1",
    ) -> ImageResult:
        """
        Inpaint ``image`` and stream the PNG into ``destination``, checking it is complete.

        Inputs are checked before any request (:class:`VyroInputError`), uploaded as a stream
        from their files, and retried per the hook's policy. ``destination`` must be seekable: a
        retry rewinds and truncates it, so after an error its content is undefined and must be
        discarded.

        :param destination: a writable, seekable binary file.
        :param image: see :meth:`inpaint`.
        :param mask: see :meth:`inpaint`.
        :param prompt: see :meth:`inpaint`.
        :param model_version: see :meth:`inpaint`.
        :return: size, SHA-256, dimensions and attempts of the PNG written.
        """
        fields = checks.check_fields(INPAINT, {"prompt": prompt, "model_version": model_version})
        return self.call_to(INPAINT, destination, fields=fields, files={"image": image, "mask": mask})

    def generative_fill(self, image: ImageSource, mask: ImageSource, prompt: str) -> bytes:
        """
        Fill what ``mask`` covers in ``image``, guided by ``prompt`` (v2), and return the image.

        The v2 successor of :meth:`inpaint`. Holds the answer in memory; for large images use
        :meth:`generative_fill_to`, which streams it.

        :param image: the image (JPEG or PNG by content): a local path, its bytes, or a binary file.
        :param mask: the mask, of the image's size (white = fill, black = keep), in the same forms.
        :param prompt: what to put where the mask is.
        :return: the image, in the format the API chose (PNG, JPEG or WebP: read it from the bytes).
        """
        fields = checks.check_fields(GENERATIVE_FILL, {"prompt": prompt})
        return self.call(GENERATIVE_FILL, fields=fields, files={"image": image, "mask": mask})

    def generative_fill_to(
        self, destination: IO[bytes], image: ImageSource, mask: ImageSource, prompt: str
    ) -> ImageResult:
        """
        Fill what ``mask`` covers (v2) and stream the image into ``destination``, checking it is complete.

        :param destination: a writable, seekable binary file; rewound and truncated on each retry.
        :param image: see :meth:`generative_fill`.
        :param mask: see :meth:`generative_fill`.
        :param prompt: see :meth:`generative_fill`.
        :return: size, SHA-256, dimensions, format and attempts of the image written.
        """
        fields = checks.check_fields(GENERATIVE_FILL, {"prompt": prompt})
        return self.call_to(GENERATIVE_FILL, destination, fields=fields, files={"image": image, "mask": mask})

    def text_to_image(
        self,
        prompt: str,
        style: str = "imagine-turbo",
        aspect_ratio: str = "1:1",
        seed: int | None = None,
        transparent: bool = False,
    ) -> bytes:
        """
        Generate an image from ``prompt`` (v2) and return it.

        Holds the answer in memory; :meth:`text_to_image_to` streams it.

        :param prompt: the image to generate.
        :param style: one of ``realistic``, ``anime``, ``flux-schnell``, ``flux-dev``,
            ``flux-dev-fast``, ``sdxl-1.0``, ``imagine-turbo``; the cost in API tokens depends on
            it (see :data:`~airflow_provider_vyro.catalogue.STYLE_TOKEN_COSTS`).
        :param aspect_ratio: one of ``1:1``, ``3:2``, ``4:3``, ``3:4``, ``16:9``, ``9:16``.
        :param seed: a whole number >= 1 for repeatable results, or ``None``.
        :param transparent: ``True`` calls the transparent endpoint (an image with a transparent
            background), which has no style: leave ``style`` at its default then.
        :return: the image, in the format the API chose (PNG, JPEG or WebP: read it from the bytes).
        """
        endpoint, fields = checks.text_to_image_call(
            prompt=prompt, style=style, aspect_ratio=aspect_ratio, seed=seed, transparent=transparent
        )
        return self.call(endpoint, fields=fields, files={})

    def text_to_image_to(
        self,
        destination: IO[bytes],
        prompt: str,
        style: str = "imagine-turbo",
        aspect_ratio: str = "1:1",
        seed: int | None = None,
        transparent: bool = False,
    ) -> ImageResult:
        """
        Generate an image from ``prompt`` (v2) and stream it into ``destination``, checking it is complete.

        :param destination: a writable, seekable binary file; rewound and truncated on each retry.
        :param prompt: see :meth:`text_to_image`.
        :param style: see :meth:`text_to_image`.
        :param aspect_ratio: see :meth:`text_to_image`.
        :param seed: see :meth:`text_to_image`.
        :param transparent: see :meth:`text_to_image`.
        :return: size, SHA-256, dimensions, format and attempts of the image written.
        """
        endpoint, fields = checks.text_to_image_call(
            prompt=prompt, style=style, aspect_ratio=aspect_ratio, seed=seed, transparent=transparent
        )
        return self.call_to(endpoint, destination, fields=fields, files={})

    def ai_background(
        self, image: ImageSource, prompt: str, style: str = "product-shoot", seed: int | None = None
    ) -> bytes:
        """
        Put a generated background, described by ``prompt``, behind a cut-out (v2) and return the image.

        Holds the answer in memory; :meth:`ai_background_to` streams it.

        :param image: the cut-out: a PNG whose background is transparent (an alpha channel), as a
            local path, its bytes, or a binary file. An image without transparency is refused.
        :param prompt: the background to generate.
        :param style: ``product-shoot``, the only style documented.
        :param seed: a whole number >= 1 for repeatable results, or ``None``.
        :return: the image, in the format the API chose (PNG, JPEG or WebP: read it from the bytes).
        """
        fields = checks.check_fields(AI_BACKGROUND, {"prompt": prompt, "style": style, "seed": seed})
        return self.call(AI_BACKGROUND, fields=fields, files={"image": image})

    def ai_background_to(
        self,
        destination: IO[bytes],
        image: ImageSource,
        prompt: str,
        style: str = "product-shoot",
        seed: int | None = None,
    ) -> ImageResult:
        """
        Put a generated background behind a cut-out (v2) and stream the image into ``destination``.

        :param destination: a writable, seekable binary file; rewound and truncated on each retry.
        :param image: see :meth:`ai_background`.
        :param prompt: see :meth:`ai_background`.
        :param style: see :meth:`ai_background`.
        :param seed: see :meth:`ai_background`.
        :return: size, SHA-256, dimensions, format and attempts of the image written.
        """
        fields = checks.check_fields(AI_BACKGROUND, {"prompt": prompt, "style": style, "seed": seed})
        return self.call_to(AI_BACKGROUND, destination, fields=fields, files={"image": image})

    def remove_background(self, image: ImageSource) -> bytes:
        """
        Cut the subject out of ``image`` (v2) and return it on a transparent background.

        The shape of this call (one file part ``image``) is what Vyro's public clients send: the
        reference lists the operation, but its field page could not be read. Holds the answer in
        memory; :meth:`remove_background_to` streams it.

        :param image: the photo (JPEG or PNG by content): a local path, its bytes, or a binary file.
        :return: the cut-out, in the format the API chose (read it from the bytes; clients treat it as PNG).
        """
        return self.call(REMOVE_BACKGROUND, fields={}, files={"image": image})

    def remove_background_to(self, destination: IO[bytes], image: ImageSource) -> ImageResult:
        """
        Cut the subject out of ``image`` (v2) and stream the cut-out into ``destination``.

        :param destination: a writable, seekable binary file; rewound and truncated on each retry.
        :param image: see :meth:`remove_background`.
        :return: size, SHA-256, dimensions, format and attempts of the image written.
        """
        return self.call_to(REMOVE_BACKGROUND, destination, fields={}, files={"image": image})

    def upscale(self, image: ImageSource) -> bytes:
        """
        Upscale ``image`` (v2, the path says ``enhance``) and return the larger image.

        The shape of this call (one file part ``image``, no scale field) is what Vyro's public
        clients send: the reference lists the operation, but its field page could not be read.
        Holds the answer in memory; :meth:`upscale_to` streams it.

        :param image: the photo (JPEG or PNG by content): a local path, its bytes, or a binary file.
        :return: the image, in the format the API chose (PNG, JPEG or WebP: read it from the bytes).
        """
        return self.call(UPSCALE, fields={}, files={"image": image})

    def upscale_to(self, destination: IO[bytes], image: ImageSource) -> ImageResult:
        """
        Upscale ``image`` (v2) and stream the larger image into ``destination``.

        :param destination: a writable, seekable binary file; rewound and truncated on each retry.
        :param image: see :meth:`upscale`.
        :return: size, SHA-256, dimensions, format and attempts of the image written.
        """
        return self.call_to(UPSCALE, destination, fields={}, files={"image": image})

    @overload
    def post_image(
        self,
        path: str,
        *,
        fields: Mapping[str, str | int] | None = None,
        files: Mapping[str, ImageSource] | None = None,
        destination: None = None,
    ) -> bytes: ...

    @overload
    def post_image(
        self,
        path: str,
        *,
        fields: Mapping[str, str | int] | None = None,
        files: Mapping[str, ImageSource] | None = None,
        destination: IO[bytes],
    ) -> ImageResult: ...

    def post_image(
        self,
        path: str,
        *,
        fields: Mapping[str, str | int] | None = None,
        files: Mapping[str, ImageSource] | None = None,
        destination: IO[bytes] | None = None,
    ) -> bytes | ImageResult:
        """
        Call any image endpoint of the API by its path.

        This is the way to reach endpoints this provider does not yet support, such as
        ``/v2/image/background/remover`` (field ``image``) or ``/v2/image/enhance``. The call
        gets everything a supported operation gets: the network policy (the token goes to the
        configured base URL only), the auth header of the path's API version (``/v1/`` →
        ``bearer``, ``/v2/`` → ``Authorization: Bearer``), retries, and the answer check (a
        complete PNG, JPEG or WebP image, its format read from the bytes). The text fields are
        sent as given (no check of their values: the API judges them); files must be JPEG or PNG
        by content.

        :param path: the path after the base URL, starting with ``/v1/`` or ``/v2/``.
        :param fields: the text fields, by name (strings, or whole numbers sent as digits).
        :param files: the files, by field name: local paths, bytes, or binary files.
        :param destination: a writable, seekable binary file to stream the answer into; ``None``
            to have the image returned as bytes.
        :return: the image bytes, or, with ``destination``, the :class:`ImageResult` of what was
            written there.
        """
        files = dict(files or {})
        endpoint, sent = checks.generic_call(path, fields or {}, tuple(files))
        if destination is None:
            return self.call(endpoint, fields=sent, files=files)
        return self.call_to(endpoint, destination, fields=sent, files=files)


__all__ = ["NamedOperations"]
