CREATE INDEX custom_field_values_organization_created_idx ON custom_field_values (organization_id, created_at DESC);
