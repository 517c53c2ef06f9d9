-- Which relay took each delivery (its name: `smtp` for the [smtp]
-- section), so `digest history` can say how an issue went out.
ALTER TABLE deliveries ADD COLUMN relay TEXT;
