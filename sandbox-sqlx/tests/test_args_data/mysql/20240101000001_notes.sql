CREATE TABLE notes (
    id bigint AUTO_INCREMENT PRIMARY KEY,
    body varchar(200) NOT NULL UNIQUE
);
