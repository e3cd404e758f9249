"""The payment providers this shop enables (``PAYMENT_PROVIDERS``), built from its
settings once per process."""

from __future__ import annotations

from collections.abc import Mapping

from shop.orders.config import OrdersSettings
from shop.orders.errors import PaymentProviderNotAllowedError
from shop.orders.payment_providers.base import PaymentProvider
from shop.orders.payment_providers.manual import MANUAL, ManualProvider
from shop.orders.payment_providers.stripe import STRIPE, StripeProvider


class PaymentProviders:
    """The enabled providers by name; the first listed is the default."""

    def __init__(
        self,
        enabled: Mapping[str, PaymentProvider],
        default: str,
        *,
        known: Mapping[str, PaymentProvider] | None = None,
    ) -> None:
        assert default in enabled
        self._providers = dict(enabled)
        self.default = default
        # Every provider an existing order may name, enabled or not: an order placed
        # before its provider was disabled is still settled and refunded through it.
        self._all = {**(known or {}), **enabled}

    @property
    def enabled(self) -> list[str]:
        return list(self._providers)

    def is_enabled(self, name: str) -> bool:
        return name in self._providers

    def chosen(self, name: str | None) -> PaymentProvider:
        """The provider a buyer asked for (the default when None); one not enabled is a
        422 naming ``payment_provider``."""
        provider = self._providers.get(name or self.default)
        if provider is None:
            raise PaymentProviderNotAllowedError(
                f"The payment provider {name!r} is not enabled in this shop; use one of: "
                + ", ".join(self._providers)
                + "."
            )
        return provider

    def get(self, name: str) -> PaymentProvider:
        """The provider of an order (KeyError: unknown here; a configuration error)."""
        return self._all[name]

    async def aclose(self) -> None:
        for provider in self._all.values():
            if isinstance(provider, StripeProvider):
                await provider.aclose()


def build_providers(settings: OrdersSettings) -> PaymentProviders:
    """The enabled providers (the settings refused to load stripe without its keys).
    Manual is always known, for the orders placed before another provider was enabled."""
    providers: dict[str, PaymentProvider] = {}
    for name in settings.payment_providers:
        if name == MANUAL:
            providers[MANUAL] = ManualProvider()
        elif name == STRIPE:
            assert settings.stripe_secret_key
            assert settings.stripe_webhook_secret
            providers[STRIPE] = StripeProvider(
                settings.stripe_secret_key.get_secret_value(),
                settings.stripe_webhook_secret.get_secret_value(),
                api_base=settings.stripe_api_base,
            )
    return PaymentProviders(
        providers, settings.payment_providers[0], known={MANUAL: ManualProvider()}
    )
