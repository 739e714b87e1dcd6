# The one data version row becomes a counter per organisation, one for shared data and one for the
# past (tracker/freshness.py). The counters only key cached values, so they start again at nothing;
# the cache keys of the new counters are named differently, so no old entry can be read.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tracker', '0011_update_kind_response'),
    ]

    operations = [
        migrations.DeleteModel(name='DataVersion'),
        migrations.CreateModel(
            name='DataVersion',
            fields=[
                ('key', models.CharField(max_length=40, primary_key=True, serialize=False)),
                ('value', models.BigIntegerField(default=0)),
            ],
            options={
                'verbose_name': 'data version',
            },
        ),
    ]
