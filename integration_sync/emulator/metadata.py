"""The CSDL ``$metadata`` document of an emulated tenant, built from the schema's properties."""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import quoteattr

from integration_sync.emulator import model

NAMESPACE = "FinanceKey"
ENTITY_TYPE = "Integration"
ENTITY_SET = "Integrations"
CONTAINER = "Container"


def csdl(
    *,
    extra_properties: bool = False,
    etags: bool = True,
    renamed: Mapping[str, str] | None = None,
    max_lengths: Mapping[str, int] | None = None,
) -> str:
    """A CSDL 4.0 XML document: one entity type with its key, one entity set. ``renamed`` and
    ``max_lengths`` are a tenant's variations (a property under another name, a narrower length)."""
    renamed, max_lengths = renamed or {}, max_lengths or {}
    props = [f'<Property Name="{model.KEY}" Type="Edm.Int32" Nullable="false" />']
    for p in model.props():
        attrs = f'Name="{renamed.get(p.name, p.name)}" Type="{p.edm_type}"'
        if not p.nullable:
            attrs += ' Nullable="false"'
        limit = max_lengths.get(p.name, p.max_length)
        if limit is not None:
            attrs += f' MaxLength="{limit}"'
        description = p.schema.get("description")
        if description:
            props.append(
                f"<Property {attrs}>"
                f'<Annotation Term="Org.OData.Core.V1.Description" String={quoteattr(description)} />'
                "</Property>"
            )
        else:
            props.append(f"<Property {attrs} />")
    if extra_properties:
        props += [f'<Property Name="{n}" Type="Edm.DateTimeOffset" />' for n in model.AUDIT_PROPS]
    body = "\n        ".join(props)
    concurrency = ""
    name = renamed.get(model.name_prop(), model.name_prop())
    if etags:
        concurrency = (
            f'\n        <Annotation Term="Org.OData.Core.V1.OptimisticConcurrency">'
            f"<Collection><PropertyPath>{name}</PropertyPath></Collection></Annotation>"
        )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
  <edmx:DataServices>
    <Schema Namespace="{NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">
      <EntityType Name="{ENTITY_TYPE}">
        <Key><PropertyRef Name="{model.KEY}" /></Key>
        {body}
      </EntityType>
      <EntityContainer Name="{CONTAINER}">
        <EntitySet Name="{ENTITY_SET}" EntityType="{NAMESPACE}.{ENTITY_TYPE}">{concurrency}
        </EntitySet>
      </EntityContainer>
    </Schema>
  </edmx:DataServices>
</edmx:Edmx>
"""
