//! The schema language of the guard: just enough of Kafka's message JSON schemas to
//! know where every length prefix is.
//!
//! A message is a [`Struct`], a list of [`Field`]s; each field has a [`Kind`] and the
//! range of versions it is present in. Fields with a tag live in the tagged-fields
//! section that ends every struct in flexible versions. Fixed-width values collapse
//! to their width: the guard never needs to tell an `int32` from four `int8`s.
//!
//! Whether strings, bytes and arrays use the compact (varint) encoding is not a
//! property of the field but of the message version: see [`Schema::flexible_from`].

use kafka_protocol::messages::ApiKey;

/// How a value is laid out on the wire, as far as its length goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// A fixed-width value of that many bytes (bool, int8 ... int64, uuid).
    Fixed(usize),
    /// A (nullable) string: `int16` length, or `uvarint` length + 1 when flexible.
    String,
    /// A (nullable) byte string: `int32` length, or `uvarint` length + 1 when flexible.
    Bytes,
    /// A (nullable) array: `int32` count, or `uvarint` count + 1 when flexible.
    Array(&'static Kind),
    /// A (nullable) array of structs, encoded as [`Kind::Array`].
    Structs(&'static Struct),
    /// A struct written inline.
    Struct(&'static Struct),
    /// A nullable struct: an `int8` marker (-1 null, 1 present), then the struct.
    NullableStruct(&'static Struct),
}

/// `int8`.
pub(crate) const INT8: Kind = Kind::Fixed(1);
/// `bool`.
pub(crate) const BOOL: Kind = Kind::Fixed(1);
/// `int16`.
pub(crate) const INT16: Kind = Kind::Fixed(2);
/// `int32`.
pub(crate) const INT32: Kind = Kind::Fixed(4);
/// `int64`.
pub(crate) const INT64: Kind = Kind::Fixed(8);
/// `uuid`.
pub(crate) const UUID: Kind = Kind::Fixed(16);
/// `string` (nullable or not: the guard accepts null everywhere, decode refuses it
/// where the schema does not allow it).
pub(crate) const STRING: Kind = Kind::String;
/// `bytes`.
pub(crate) const BYTES: Kind = Kind::Bytes;
/// `records`: nullable bytes holding record batches, bound-checked only.
pub(crate) const RECORDS: Kind = Kind::Bytes;

/// An array of `of`.
pub(crate) const fn array(of: &'static Kind) -> Kind {
    Kind::Array(of)
}

/// An array of structs.
pub(crate) const fn structs(of: &'static Struct) -> Kind {
    Kind::Structs(of)
}

/// A struct written inline (only tagged fields do this in responses).
pub(crate) const fn inline(of: &'static Struct) -> Kind {
    Kind::Struct(of)
}

/// A nullable struct.
pub(crate) const fn nullable(of: &'static Struct) -> Kind {
    Kind::NullableStruct(of)
}

/// One field of a struct.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    /// The field's name in Kafka's schema (snake case, as in kafka-protocol).
    pub(crate) name: &'static str,
    /// Its layout.
    pub(crate) kind: Kind,
    /// The first version that has it.
    pub(crate) min: i16,
    /// The last version that has it.
    pub(crate) max: i16,
    /// Its tag, if it is a tagged field.
    pub(crate) tag: Option<u32>,
}

/// A field present in every version of its message.
pub(crate) const fn field(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        min: 0,
        max: i16::MAX,
        tag: None,
    }
}

impl Field {
    /// Present from `version` on.
    pub(crate) const fn since(mut self, version: i16) -> Field {
        self.min = version;
        self
    }

    /// Present up to and including `version`.
    pub(crate) const fn until(mut self, version: i16) -> Field {
        self.max = version;
        self
    }

    /// A tagged field with `tag`.
    pub(crate) const fn tagged(mut self, tag: u32) -> Field {
        self.tag = Some(tag);
        self
    }

    /// Whether the field exists in `version`.
    pub(crate) fn present_in(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

/// A struct: a named list of fields, in wire order.
#[derive(Debug)]
pub(crate) struct Struct {
    /// The struct's name (the kafka-protocol type name), for error messages.
    pub(crate) name: &'static str,
    /// Its fields; tagged ones may appear anywhere in the list.
    pub(crate) fields: &'static [Field],
}

impl Struct {
    /// The untagged fields present in `version`, in wire order.
    pub(crate) fn fields_in(&self, version: i16) -> impl Iterator<Item = &Field> {
        self.fields
            .iter()
            .filter(move |f| f.tag.is_none() && f.present_in(version))
    }

    /// The tagged field with `tag` in `version`, if the schema knows it.
    pub(crate) fn tagged_field(&self, tag: u32, version: i16) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.tag == Some(tag) && f.present_in(version))
    }
}

/// The response schema of one API over a range of versions.
#[derive(Debug)]
pub(crate) struct Schema {
    /// The API.
    pub(crate) api: ApiKey,
    /// The lowest version described.
    pub(crate) min: i16,
    /// The highest version described.
    pub(crate) max: i16,
    /// The first flexible version (compact lengths, tagged fields); [`NEVER`] if none.
    pub(crate) flexible_from: i16,
    /// The response body.
    pub(crate) body: &'static Struct,
}

/// `flexible_from` of an API with no flexible version.
pub(crate) const NEVER: i16 = i16::MAX;

impl Schema {
    /// Whether `version` uses compact lengths and tagged fields.
    pub(crate) fn is_flexible(&self, version: i16) -> bool {
        version >= self.flexible_from
    }
}

/// The fewest bytes a value of `kind` takes at `version`.
pub(crate) fn min_size(kind: &Kind, version: i16, flexible: bool) -> usize {
    match kind {
        Kind::Fixed(width) => *width,
        Kind::String if flexible => 1,
        Kind::String => 2,
        Kind::Bytes | Kind::Array(_) | Kind::Structs(_) if flexible => 1,
        Kind::Bytes | Kind::Array(_) | Kind::Structs(_) => 4,
        Kind::Struct(s) => struct_min_size(s, version, flexible),
        Kind::NullableStruct(_) => 1,
    }
}

/// The fewest bytes struct `s` takes at `version` (its tagged fields all absent).
pub(crate) fn struct_min_size(s: &Struct, version: i16, flexible: bool) -> usize {
    let fields: usize = s
        .fields_in(version)
        .map(|f| min_size(&f.kind, version, flexible))
        .sum();
    fields + usize::from(flexible)
}
