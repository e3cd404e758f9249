"""The payment provider port (:mod:`.base`), its adapters (:mod:`.manual`,
:mod:`.stripe`) and the registry of those enabled (:mod:`.registry`)."""
